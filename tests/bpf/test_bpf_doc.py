"""Every command of docs/bpf.md runs from a copy of examples/ and succeeds."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bpf.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def commands() -> list[str]:
    return [
        line[2:]
        for body in BLOCK.findall(DOC.read_text())
        for line in body.splitlines()
        if line.startswith("$ ")
    ]


def test_doc_commands_run(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "bpf", tmp_path / "examples" / "bpf")
    env = dict(
        os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    )
    qdisclab = f"{shlex.quote(sys.executable)} -m qdisclab"
    ran = []
    for cmd in commands():
        if cmd.startswith("qdisclab bpf build") and shutil.which("clang-19") is None:
            shutil.copy(tmp_path / "examples/bpf/fifo.bpf.o", tmp_path / "fifo.bpf.o")
            continue
        if cmd.startswith("qdisclab bpf verify") and "--static" not in cmd and os.geteuid() != 0:
            continue
        cmd, _, status = cmd.partition("  # exit ")  # a command documented to exit non-zero
        proc = subprocess.run(
            re.sub(r"^qdisclab\b", qdisclab, cmd), shell=True, cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == int(status or 0), f"{cmd}\n{proc.stdout}\n{proc.stderr}"
        ran.append(cmd)
    assert "struct Qdisc {" in (tmp_path / "vmlinux.h").read_text()
    assert "#define __contains" in (tmp_path / "qdisclab_bpf.h").read_text()
    assert any(c.startswith("qdisclab bpf inspect fifo.bpf.o") for c in ran)
    if not ran or len(ran) < len(commands()):
        pytest.skip(f"ran {len(ran)} of {len(commands())} commands (no clang-19 or not root)")


def test_doc_excerpts_are_the_examples() -> None:
    fifo = (ROOT / "examples" / "bpf" / "fifo.bpf.c").read_text()
    for excerpt in re.findall(r"```c\n(.*?)```", DOC.read_text(), re.S):
        assert excerpt in fifo
