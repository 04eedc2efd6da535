"""The built-in scenarios: TOML files shipped in ``qdisclab/scenario/builtin``.

>>> "udp-dumbbell" in builtin_names()
True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from qdisclab.errors import UserError
from qdisclab.scenario.loader import Loaded, load_file, load_text


def builtin_names() -> list[str]:
    root = resources.files("qdisclab.scenario") / "builtin"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def builtin_text(name: str) -> str:
    if name not in builtin_names():
        raise UserError(
            f"unknown scenario {name!r} (built-in: {', '.join(builtin_names())}; "
            "or give a path to a .toml file)"
        )
    return (resources.files("qdisclab.scenario") / "builtin" / f"{name}.toml").read_text()


def load_builtin(name: str, overrides: dict[str, Any] | None = None) -> Loaded:
    return load_text(builtin_text(name), f"builtin:{name}", Path.cwd(), overrides)


def load_any(name: str, overrides: dict[str, Any] | None = None) -> Loaded:
    """A built-in by name, or a scenario file by path (anything ending in .toml or existing)."""
    if name.endswith(".toml") or Path(name).is_file():
        return load_file(name, overrides)
    return load_builtin(name, overrides)


def default_scenario() -> str:
    """``dumbbell`` once TCP is available, else the UDP dumbbell."""
    from qdisclab.scenario.registry import missing

    return "dumbbell" if missing("tcp-bulk") is None else "udp-dumbbell"
