"""The install falls back to pure Python when it cannot compile, and says so in one line."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    importlib.util.find_spec("wheel") is None or not (ROOT / "setup.py").exists(),
    reason="needs the source tree and the wheel package (a --no-build-isolation build)",
)
def test_wheel_build_with_a_missing_compiler_succeeds_pure(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(
        ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.so", "build")
    )
    env = {**os.environ, "CC": "/nonexistent/cc"}
    env.pop("QDISCLAB_PURE", None)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v",
         "-w", str(tmp_path / "out"), str(tree)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    said = [
        line for line in (result.stdout + result.stderr).splitlines() if "qdisclab build:" in line
    ]
    assert said and all(
        "installing pure Python: no C compiler ('/nonexistent/cc' not found)" in line
        for line in said
    ), said
    (wheel,) = (tmp_path / "out").glob("qdisclab-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")  # a pure wheel, not a platform one
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith((".so", ".pyd"))]
    assert "qdisclab/sim/scheduler.py" in names
    manifest = zipfile.ZipFile(wheel).read("qdisclab/_native.txt").decode()
    assert manifest.startswith("pure no C compiler")
