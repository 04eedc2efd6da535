"""A compiled install gives byte-identical results to the same install run pure.

``-m pure_compare`` selects this comparison: it runs the default dumbbell
(shortened) once compiled and once with ``QDISCLAB_PURE=1`` in the same
install. Where the install is not compiled it skips, saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.pure_compare


def _python(code_or_args: list[str], pure: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QDISCLAB_PURE"}
    if pure:
        env["QDISCLAB_PURE"] = "1"
    return subprocess.run(
        [sys.executable, *code_or_args], env=env, capture_output=True, text=True, timeout=900
    )


def _build() -> str:
    return _python(["-m", "qdisclab", "--version"], pure=False).stdout.strip()


def _without_wall_clock(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_wall_clock(v) for k, v in value.items() if not k.endswith("wall_s")}
    if isinstance(value, list):
        return [_without_wall_clock(v) for v in value]
    return value


@pytest.fixture(scope="module")
def compiled_build() -> str:
    build = _build()
    if "compiled (mypyc" not in build:
        pytest.skip(f"this install is not compiled: {build}")
    return build


def test_default_dumbbell_is_byte_identical_compiled_and_pure(compiled_build):
    args = ["-m", "qdisclab", "run", "dumbbell", "--duration", "2s", "--json"]
    compiled, pure = _python(args, pure=False), _python(args, pure=True)
    assert compiled.returncode == 0 and pure.returncode == 0, compiled.stderr + pure.stderr
    a, b = json.loads(compiled.stdout), json.loads(pure.stdout)
    assert a["events"] > 10_000
    assert json.dumps(_without_wall_clock(a), sort_keys=True) == json.dumps(
        _without_wall_clock(b), sort_keys=True
    )


def _first_compiled_module() -> str:
    """The first module of the one compile list, so the test follows the list as it changes."""
    with open(Path(__file__).resolve().parents[2] / "pyproject.toml", "rb") as f:
        modules: list[str] = tomllib.load(f)["tool"]["qdisclab"]["compile"]["modules"]
    return modules[0]


def test_compiled_modules_are_the_ones_imported(compiled_build):
    module = _first_compiled_module()
    code = (
        f"import qdisclab, {module} as m; "
        "print(qdisclab.build_info().compiled, m.__file__.endswith('.py'))"
    )
    assert _python(["-c", code], pure=False).stdout.split() == ["True", "False"]
    assert _python(["-c", code], pure=True).stdout.split() == ["False", "True"]
