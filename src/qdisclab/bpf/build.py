"""``qdisclab bpf build``: compile BPF C against qdisclab's headers, reproducibly.

The compiler is the first of: ``clang-N`` (N ≥ 15, newest first) or ``clang``
on PATH whose version is at least 15, then the ``ziglang`` wheel (``pip
install 'qdisclab[bpf]'``, clang 22 inside, ``zig cc -target
bpfel-freestanding``). clang 14 compiles BPF qdiscs but silently drops the
``__kptr`` type tag, so it is refused with the fix named.

Builds are reproducible: the source is compiled from its own directory under
its base name, and the generated include directory is mapped to a fixed path,
so the same compiler gives byte-identical objects on any machine.

>>> compiler_version("clang version 19.1.7 (3~deb12u1)")
19
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qdisclab.bpf.vmlinux_header import write_include_dir
from qdisclab.errors import UserError

MIN_CLANG = 15
INCLUDE_PREFIX = "/qdisclab/include"
CFLAGS = ("-O2", "-g", "-Wall", "-Werror", "-fno-ident")
_FIX = (
    "install clang-19 (Debian/Ubuntu: apt-get install clang-19; qdisclab's "
    "scripts/install-test-deps.sh does it) or the bundled compiler: pip install 'qdisclab[bpf]'"
)


@dataclass(frozen=True, slots=True)
class Compiler:
    """A compiler command able to build BPF objects, and its clang major version."""

    argv: tuple[str, ...]
    version: int
    target: tuple[str, ...]

    def describe(self) -> str:
        return f"{' '.join(self.argv)} (clang {self.version})"


def compiler_version(text: str) -> int:
    """The clang major version in ``--version`` output (0 if none)."""
    m = re.search(r"clang version (\d+)", text)
    return int(m.group(1)) if m else 0


def _probe(argv: list[str]) -> int:
    try:
        out = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return compiler_version(out.stdout)


def find_compiler() -> Compiler:
    """The best BPF-capable compiler here, or a UserError naming the fix."""
    too_old: list[str] = []
    names = [f"clang-{n}" for n in range(30, MIN_CLANG - 1, -1)] + ["clang"]
    for name in names:
        path = shutil.which(name)
        if path is None:
            continue
        version = _probe([path])
        if version >= MIN_CLANG:
            return Compiler((path,), version, ("-target", "bpfel", "-mcpu=v3"))
        if version:
            too_old.append(f"{name} is clang {version}")
    if importlib.util.find_spec("ziglang") is not None:
        argv = [sys.executable, "-m", "ziglang", "cc"]
        version = _probe(argv)
        if version >= MIN_CLANG:
            return Compiler(tuple(argv), version, ("-target", "bpfel-freestanding", "-mcpu=v3"))
    if too_old:
        raise UserError(
            f"{'; '.join(too_old)}: clang < {MIN_CLANG} drops the __kptr type tag, so BPF "
            f"qdiscs it builds are invalid; {_FIX}"
        )
    raise UserError(f"no C compiler for BPF found (need clang >= {MIN_CLANG}); {_FIX}")


def build(source: Path, output: Path | None = None, compiler: Compiler | None = None) -> Path:
    """Compile ``source`` (``x.bpf.c`` → ``x.bpf.o`` next to it unless ``output``)."""
    source = Path(source)
    if not source.is_file():
        raise UserError(f"{source}: no such file")
    if output is None:
        output = source.with_suffix(".o")
    compiler = compiler or find_compiler()
    src_dir = source.resolve().parent
    with tempfile.TemporaryDirectory(prefix="qdisclab-bpf-") as tmp:
        include = write_include_dir(Path(tmp))
        argv = [
            *compiler.argv,
            *compiler.target,
            *CFLAGS,
            f"-I{include}",
            f"-ffile-prefix-map={include}={INCLUDE_PREFIX}",
            f"-ffile-prefix-map={src_dir}=.",
            "-fdebug-compilation-dir=.",
            "-c",
            source.name,
            "-o",
            str(Path(output).resolve()),
        ]
        try:
            result = subprocess.run(argv, cwd=src_dir, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise UserError(f"{source}: the compiler did not finish in 300 s") from None
    if result.returncode != 0:
        first = next((ln for ln in result.stderr.splitlines() if "error" in ln), result.stderr)
        raise UserError(f"{source}: compile failed: {first.strip()}")
    return Path(output)
