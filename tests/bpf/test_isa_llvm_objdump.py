"""The disassembler prints what llvm-objdump prints, and the assembler reads it back."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from bpf_clang import compile_text, needs_clang

from qdisclab.bpf.asm import assemble, disassemble

SNIPPET = """
unsigned long g(unsigned long *p, unsigned int x, int y, short *q) {
    unsigned long k = 0x123456789abcdefULL;
    if (x > 5) k ^= p[1];
    if (y < -7) k += (unsigned long)(unsigned char)x;
    if ((long)k > 3) k -= q[1];
    __sync_fetch_and_or(p, 3);
    __sync_fetch_and_add(p + 5, k);
    unsigned long old = __sync_val_compare_and_swap(p + 2, 7, k);
    q[2] = (short)k;
    return k * old + __builtin_bswap64(p[3]) + (x >> 3) + (unsigned long)(y >> 2) + (x / 9)
           + (k << (x & 63)) + (p[4] & 0xff00) + (x % 3 ? 1 : 2);
}
"""


@needs_clang
@pytest.mark.skipif(shutil.which("llvm-objdump") is None, reason="llvm-objdump not installed")
def test_disassembly_matches_llvm_objdump(tmp_path) -> None:
    data, _ = compile_text(SNIPPET, tmp_path, mcpu="v3")
    dump = subprocess.run(
        ["llvm-objdump", "-d", str(tmp_path / "prog.o")], capture_output=True, text=True, check=True
    ).stdout
    theirs = {}
    for line in dump.splitlines():
        m = re.match(r"\s*(\d+):\t([0-9a-f ]+)\t(.*)$", line)
        if m and "<unknown>" not in m.group(3):
            theirs[int(m.group(1))] = (m.group(2).strip(), re.sub(r" <[^<>]*>$", "", m.group(3)))
    ours = {}
    for line in disassemble(data):
        slot, raw, text = line.split("\t")
        ours[int(slot.rstrip(":"))] = (raw, text)
    assert len(theirs) > 25
    for slot, (raw, text) in theirs.items():
        assert ours[slot] == (raw, text), f"slot {slot}"


@needs_clang
def test_assembler_reads_disassembly_of_compiled_code(tmp_path) -> None:
    data, _ = compile_text(SNIPPET, tmp_path, mcpu="v4")
    text = "\n".join(line.split("\t")[2] for line in disassemble(data))
    assert assemble(text).insns == data
