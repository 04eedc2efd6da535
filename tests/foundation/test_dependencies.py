"""Every dependency is bounded above where its next release may break us.

The CLI's error handling broke once when typer began vendoring click in a
minor release; a bound makes such a release a deliberate upgrade (with the
CLI error tests to prove it) instead of a surprise for users.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def requirements() -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    return project["dependencies"] + [r for group in project["optional-dependencies"].values()
                                      for r in group]  # fmt: skip


@pytest.mark.parametrize("requirement", requirements())
def test_each_dependency_has_an_upper_bound_that_admits_the_installed_version(requirement):
    name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)
    upper = re.search(r"<\s*([0-9][0-9.]*)", requirement)
    assert upper, f"{requirement}: add an upper bound (next major; next minor for 0.x)"
    try:
        installed = version(name)
    except PackageNotFoundError:
        pytest.skip(f"{name} is not installed here")
    as_tuple = lambda text: tuple(int(p) for p in re.findall(r"\d+", text)[:3])  # noqa: E731
    assert as_tuple(installed) < as_tuple(upper.group(1)), (
        f"{name} {installed} is past {requirement}"
    )
