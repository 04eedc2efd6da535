"""Compile small C snippets to BPF with clang-19 for the engine tests (skip without it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from qdisclab.bpf.code import Code

CLANG = shutil.which("clang-19")
needs_clang = pytest.mark.skipif(
    CLANG is None, reason="clang-19 not installed (scripts/install-test-deps.sh installs it)"
)


def compile_text(source: str, tmp_path: Path, mcpu: str = "v4") -> tuple[bytes, dict[str, int]]:
    """``.text`` of ``source`` compiled with ``clang-19 -target bpf -O2`` and its function slots."""
    from elftools.elf.elffile import ELFFile

    assert CLANG is not None
    src, obj = tmp_path / "prog.c", tmp_path / "prog.o"
    src.write_text(source)
    subprocess.run(
        [CLANG, "-target", "bpf", f"-mcpu={mcpu}", "-O2", "-c", str(src), "-o", str(obj)],
        check=True,
        capture_output=True,
    )
    with obj.open("rb") as f:
        elf = ELFFile(f)
        text = elf.get_section_by_name(".text")
        data = text.data()
        index = elf.get_section_index(".text")
        funcs = {
            sym.name: sym["st_value"] // 8
            for sym in elf.get_section_by_name(".symtab").iter_symbols()
            if sym["st_info"]["type"] == "STT_FUNC" and sym["st_shndx"] == index
        }
    return data, funcs


def function_code(source: str, tmp_path: Path, entry: str, mcpu: str = "v4") -> Code:
    """A Code whose slot 0 is function ``entry`` of ``source`` (the rest of .text follows)."""
    data, funcs = compile_text(source, tmp_path, mcpu)
    start = funcs[entry] * 8
    # Functions before the entry are rotated to the end; calls are pc-relative,
    # so only ones crossing the cut would break, and test snippets put the entry first.
    assert start == 0, f"put {entry} first in the snippet"
    return Code(entry, data)
