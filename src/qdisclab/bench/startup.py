"""Start-up rows of ``qdisclab bench``: how long the command line imports before it works.

``import_s`` is the median, over fresh interpreter processes, of the import time
of ``qdisclab run bufferbloat --duration 1s --json``: the sum of the cumulative
``-X importtime`` figures of every top-level import the command makes from the
moment the interpreter has started to its exit — qdisclab's own modules and
every dependency they pull in (typer, pydantic, rich, ...), whether imported at
start or lazily during the run. That is the part of a user's wait that the
package decides; the interpreter's own start (``python_start_s``) is reported
beside it. ``help_import_s`` is the same figure for ``qdisclab --help``, and
``bufferbloat_1s_wall_s`` the whole-process wall time of the 1 s run (no
``-X importtime``), start to exit.

The measured children start without ``site`` (``-S``), on the search path this
interpreter has, and import ``os`` first, as ``site`` would: the ``.pth`` hooks
that other installed packages put in site-packages (one that imports certifi
brings in pathlib, typing, re, zipfile, ...) then cannot load, before the count
starts, modules that the command would otherwise import and pay for itself.

Each child runs as an installed package does: with bytecode caches, which one
warm-up run writes into a private temporary cache (``PYTHONPYCACHEPREFIX``), so
an environment that disables bytecode writing does not make every run compile
its sources, and the source tree is not written to.

>>> log = "import time: 900 | 9000 | site\\nimport time: 500 | 7000 | qdisclab\\n"
>>> parse_importtime(log + "import time: 2000 | 2000 |   qdisclab.units\\n")
0.007
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

from qdisclab.bench import Budget

RUN_ARGS = ("run", "bufferbloat", "--duration", "1s", "--json")
# `python -m qdisclab` without site: os first (what site imports), then the command.
WITHOUT_SITE = ("-S", "-c", "import os, runpy; runpy.run_module('qdisclab', alter_sys=True, "
                "run_name='__main__')")  # fmt: skip
HELP_ARGS = ("--help",)
IMPORT_TARGET_S = 0.3  # issue 14: `qdisclab run` imports in under 0.3 s

_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)")


def parse_importtime(log: str) -> float:
    """Seconds of imports after the interpreter's start, from a ``-X importtime`` log.

    Only top-level entries (no indent) are summed: each one's cumulative time
    already includes the imports it triggered. Everything up to and including
    ``site`` is the interpreter's start, not the command's (or up to ``os``, in
    a child that starts without site and imports it first).
    """
    entries = [(int(m[1]), len(m[2]), m[3]) for m in map(_LINE.match, log.splitlines()) if m]
    start = next((i + 1 for i, (_, indent, name) in enumerate(entries)
                  if name in ("site", "os") and indent == 0), 0)  # fmt: skip
    return sum(us for us, indent, _ in entries[start:] if indent == 0) / 1e6


def child_env(cache_dir: str, without_site: bool = False) -> dict[str, str]:
    """The environment of a measured child: this qdisclab first on the path, cached bytecode.

    ``without_site``: the whole search path of this interpreter, which a child
    started with ``-S`` does not get from site and the ``.pth`` files.
    """
    import qdisclab

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    source_root = os.path.dirname(os.path.dirname(os.path.abspath(qdisclab.__file__)))
    rest = [p for p in sys.path if p and os.path.isdir(p)] if without_site else []
    paths = dict.fromkeys([source_root, *env.get("PYTHONPATH", "").split(os.pathsep), *rest])
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def _run(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True,
                            timeout=600, stdin=subprocess.DEVNULL)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr[-500:]}")
    return result


def import_seconds(args: Sequence[str], env: Mapping[str, str], runs: int) -> float:
    """Median import time of ``qdisclab ARGS`` over ``runs`` fresh processes without site."""
    return statistics.median(
        parse_importtime(_run(("-X", "importtime", *WITHOUT_SITE, *args), env).stderr)
        for _ in range(runs)
    )


def wall_seconds(argv: Sequence[str], env: Mapping[str, str], runs: int) -> float:
    """Median whole-process wall time of ``python ARGV`` over ``runs`` fresh processes."""
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        _run(argv, env)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def startup(budget: Budget) -> dict[str, Any]:
    runs = 1 if budget.quick else 7
    with tempfile.TemporaryDirectory(prefix="qdisclab-pycache-") as cache_dir:
        env = child_env(cache_dir)
        bare = child_env(cache_dir, without_site=True)
        _run(("-m", "qdisclab", *RUN_ARGS), env)  # warm-up: writes the bytecode caches
        run_import = import_seconds(RUN_ARGS, bare, runs)
        return {
            "import_s": round(run_import, 4),
            "import_target_s": IMPORT_TARGET_S,
            "help_import_s": round(import_seconds(HELP_ARGS, bare, runs), 4),
            "bufferbloat_1s_wall_s": round(
                wall_seconds(("-m", "qdisclab", *RUN_ARGS), env, runs), 4
            ),
            "python_start_s": round(wall_seconds(("-c", "pass"), env, runs), 4),
        }


ROWS = [startup]
