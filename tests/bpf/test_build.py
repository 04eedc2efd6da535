"""Building BPF C: committed objects are reproducible, compiler choice names its fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bpf_corpus import CORPUS, EXAMPLES, clang19

from qdisclab.bpf import build as build_mod
from qdisclab.bpf.build import Compiler, build, find_compiler
from qdisclab.errors import UserError

TEST_OBJECTS = sorted((Path(__file__).parent / "objects").glob("*.bpf.c"))


@pytest.mark.parametrize("source", CORPUS + TEST_OBJECTS, ids=lambda p: p.name)
def test_committed_object_is_what_clang_19_builds(source: Path, tmp_path: Path) -> None:
    compiler = Compiler((clang19(),), 19, ("-target", "bpfel", "-mcpu=v3"))
    # Build from a copy elsewhere: the object must not depend on where the source lives.
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    for header in source.parent.glob("*.h"):  # headers the program includes by name
        shutil.copy(header, tmp_path / header.name)
    out = build(copy, tmp_path / "out.o", compiler)
    committed = source.with_suffix(".o")
    assert out.read_bytes() == committed.read_bytes(), (
        f"{committed} is stale: run qdisclab bpf build {source}"
    )


def test_corpus_is_complete() -> None:
    names = {p.relative_to(EXAMPLES).as_posix() for p in CORPUS}
    assert {"fifo.bpf.c", "fq.bpf.c", "prio.bpf.c", "tc_count_mark.bpf.c"} <= names
    assert {"dctcp.bpf.c", "cubic.bpf.c"} <= names
    assert {
        f"must_fail/{n}.bpf.c"
        for n in ("leak_on_branch", "insert_twice", "dequeue_unowned", "kfunc_not_allowed")
    } | {"must_fail/packet_oob.bpf.c"} <= names
    for src in CORPUS:
        assert src.with_suffix(".o").exists(), f"{src}: compiled object not committed"


def test_only_clang_14_is_refused_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        build_mod.shutil, "which", lambda name: "/usr/bin/clang" if name == "clang" else None
    )
    monkeypatch.setattr(build_mod, "_probe", lambda argv: 14)
    monkeypatch.setattr(build_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError) as info:
        find_compiler()
    msg = str(info.value)
    assert "clang is clang 14" in msg and "__kptr" in msg
    assert "apt-get install clang-19" in msg and "qdisclab[bpf]" in msg


def test_no_compiler_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_mod.shutil, "which", lambda name: None)
    monkeypatch.setattr(build_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="no C compiler for BPF found"):
        find_compiler()


def test_newest_clang_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    found = {"clang-17": "/x/clang-17", "clang-20": "/x/clang-20", "clang": "/x/clang"}
    monkeypatch.setattr(build_mod.shutil, "which", found.get)
    monkeypatch.setattr(build_mod, "_probe", lambda argv: int(argv[0].rsplit("-", 1)[-1]))
    assert find_compiler().argv == ("/x/clang-20",)


def test_compile_error_is_one_line(tmp_path: Path) -> None:
    compiler = Compiler((clang19(),), 19, ("-target", "bpfel", "-mcpu=v3"))
    bad = tmp_path / "bad.bpf.c"
    bad.write_text('#include "vmlinux.h"\nint f(struct sk_buff *s) { return s->nope; }\n')
    with pytest.raises(UserError) as info:
        build(bad, None, compiler)
    assert "bad.bpf.c: compile failed:" in str(info.value) and "nope" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(UserError, match="no such file"):
        build(tmp_path / "missing.bpf.c", None, compiler)
