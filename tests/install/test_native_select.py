"""Choosing compiled or pure at import (qdisclab/_native.py), on a package laid out in tmp_path.

The decision reads the build manifest and compares each compiled module with
its source; these tests build that layout by hand (an empty file stands in for
the compiled module: only its presence and time are looked at), so they run
whether or not this install was compiled.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from qdisclab._native import BuildInfo, SourceOnlyFinder, decide, read_manifest

MODULES = ("qdisclab.sim.scheduler", "qdisclab.skb.skbuff")


def _package(tmp_path: Path) -> Path:
    """A qdisclab package whose two modules were "compiled" from their current sources."""
    pkg = tmp_path / "qdisclab"
    lines = ["mypyc 9.9"]
    for module in MODULES:
        source = tmp_path / (module.replace(".", "/") + ".py")
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(f"NAME = {module!r}\n")
        built = source.with_name(source.stem + EXTENSION_SUFFIXES[0])
        built.write_bytes(b"")
        os.utime(source, ns=(1_000_000_000, 1_000_000_000))  # the source predates its build
        lines.append(f"module {module} {hashlib.sha256(source.read_bytes()).hexdigest()}")
    (pkg / "_native.txt").write_text("\n".join(lines) + "\n")
    return pkg


def test_a_matching_build_runs_compiled(tmp_path):
    info, warning = decide(_package(tmp_path), environ={})
    assert info == BuildInfo(True, "9.9", MODULES, None) and warning is None
    assert str(info) == "compiled (mypyc 9.9, 2 modules)"


def test_qdisclab_pure_runs_the_sources_without_a_warning(tmp_path):
    info, warning = decide(_package(tmp_path), environ={"QDISCLAB_PURE": "1"})
    assert not info.compiled and warning is None
    assert str(info) == "pure Python (QDISCLAB_PURE=1)"
    info, _ = decide(_package(tmp_path), environ={"QDISCLAB_PURE": "0"})  # 0 is "not set"
    assert info.compiled


def test_an_edited_source_makes_the_whole_package_pure_and_says_how_to_rebuild(tmp_path):
    pkg = _package(tmp_path)
    (tmp_path / "qdisclab/skb/skbuff.py").write_text("NAME = 'edited'\n")
    info, warning = decide(pkg, environ={})
    assert not info.compiled and info.modules == ()
    assert info.reason == "stale build: src/qdisclab/skb/skbuff.py changed since it was compiled"
    assert warning is not None and "\n" not in warning
    assert "skbuff.py changed" in warning and "pip install -e ." in warning


def test_a_touched_but_unchanged_source_stays_compiled(tmp_path):
    pkg = _package(tmp_path)
    (tmp_path / "qdisclab/sim/scheduler.py").touch()  # newer than its build, same bytes
    info, warning = decide(pkg, environ={})
    assert info.compiled and warning is None


def test_a_missing_compiled_module_makes_the_whole_package_pure(tmp_path):
    pkg = _package(tmp_path)
    (tmp_path / f"qdisclab/sim/scheduler{EXTENSION_SUFFIXES[0]}").unlink()
    info, warning = decide(pkg, environ={})
    assert not info.compiled and "qdisclab.sim.scheduler has no compiled file" in info.reason
    assert warning is not None


def test_a_pure_build_or_no_manifest_reports_why(tmp_path):
    pkg = tmp_path / "qdisclab"
    pkg.mkdir()
    assert decide(pkg, environ={})[0].reason == "not compiled: no build manifest"
    (pkg / "_native.txt").write_text("pure no C compiler ('/nonexistent' not found)\n")
    info, warning = decide(pkg, environ={})
    assert (
        str(info)
        == "pure Python (not compiled at install: no C compiler ('/nonexistent' not found))"
    )
    assert warning is None
    assert read_manifest("mypyc 1.0\nmodule a.b 00\n") == ("1.0", {"a.b": "00"}, None)


def test_the_source_only_finder_loads_py_files_even_beside_compiled_ones(tmp_path):
    _package(tmp_path)
    finder = SourceOnlyFinder()
    spec = finder.find_spec("qdisclab.sim.scheduler", [str(tmp_path / "qdisclab/sim")])
    assert spec is not None and spec.origin == str(tmp_path / "qdisclab/sim/scheduler.py")
    assert finder.find_spec("json", None) is None  # only qdisclab's own modules


def test_version_reports_the_build_and_pure_switch_is_obeyed():
    env = {**os.environ, "QDISCLAB_PURE": "1"}
    code = (
        "import qdisclab, qdisclab.sim.scheduler as s; "
        "print(qdisclab.build_info().compiled, s.__file__.endswith('.py'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True"]
    version = subprocess.run(
        [sys.executable, "-m", "qdisclab", "--version"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.startswith("qdisclab 0.1.0, pure Python (")
