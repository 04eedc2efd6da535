"""The committed BPF corpus (examples/bpf) as the tests see it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "bpf"
CORPUS = sorted(EXAMPLES.rglob("*.bpf.c"))
OBJECTS = [src.with_suffix(".o") for src in CORPUS]


def obj(name: str) -> Path:
    """The committed object ``examples/bpf/<name>.bpf.o``."""
    return EXAMPLES / f"{name}.bpf.o"


def clang19() -> str:
    """Path of clang-19, or skip the test naming how to get it."""
    path = shutil.which("clang-19")
    if path is None:
        pytest.skip("clang-19 not installed (scripts/install-test-deps.sh installs it)")
    return path
