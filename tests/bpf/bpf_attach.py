"""Running the corpus's BPF qdiscs in scenarios, for the attach tests."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from bpf_corpus import EXAMPLES

from qdisclab.scenario.build import run_loaded
from qdisclab.scenario.loader import load_text

BUILTIN = Path(__file__).resolve().parents[2] / "src/qdisclab/scenario/builtin"


def builtin(
    tmp: Path,
    scenario: str,
    qdisc: str,
    objects: tuple[str, ...] = (),
    duration: str = "2s",
    window_start: str = "500ms",
) -> Any:
    """Built-in ``scenario`` with ``qdisc`` at the bottleneck, written next to ``objects``.

    ``objects`` (paths under examples/bpf) are copied beside the scenario so
    ``bpf:NAME.bpf.o`` resolves relative to the scenario file.
    """
    for name in objects:
        shutil.copy(EXAMPLES / name, tmp / Path(name).name)
    raw = tomllib.loads((BUILTIN / f"{scenario}.toml").read_text())
    raw["run"]["duration"] = duration
    raw["run"]["window"] = [window_start, duration]
    raw["run"].pop("record", None)
    for link in raw["link"]:
        if link.get("name") == "bottleneck":
            link["qdisc_a"] = qdisc
    return load_text(tomli_w.dumps(raw), f"{scenario}.toml", tmp)


def dumbbell(tmp: Path, qdisc: str, objects: tuple[str, ...] = (), duration: str = "2s") -> Any:
    """The built-in TCP dumbbell with ``qdisc`` at the bottleneck (see :func:`builtin`)."""
    return builtin(tmp, "dumbbell", qdisc, objects, duration)


def run_json(loaded: Any, policy: str = "strict") -> str:
    return json.dumps(run_loaded(loaded, policy=policy), sort_keys=True, indent=1)
