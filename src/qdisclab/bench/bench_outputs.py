"""What ``--out`` costs: the built-in ``dumbbell`` run with a run directory against without.

The ratio is wall time with ``--out`` (CSVs, results.json, tc stats and the
plots, drawn by a worker process that imported matplotlib during the run)
over the same run without it, each as ``qdisclab run dumbbell`` in a fresh
process (the bench imports nothing from the scenario layer), the best of
interleaved pairs so machine noise hits both alike. The acceptance figure is at most 1.3.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from typing import Any

from qdisclab.bench import Budget


def _timed_run(args: list[str]) -> float:
    """Wall seconds of ``qdisclab run dumbbell ARGS`` in a fresh process (as a user runs it)."""
    cmd = [sys.executable, "-m", "qdisclab", "run", "dumbbell", "--json", *args]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def out_dir_cost(budget: Budget) -> dict[str, Any]:
    """Seconds of the dumbbell without and with ``--out``, and their ratio."""
    args = ["--duration", "1s"] if budget.quick else []
    plain = with_out = float("inf")
    for _ in range(1 if budget.quick else 2):
        plain = min(plain, _timed_run(args))
        with tempfile.TemporaryDirectory() as out:
            with_out = min(with_out, _timed_run([*args, "--out", out]))
    return {
        "dumbbell_run_s": round(plain, 3),
        "dumbbell_run_with_out_s": round(with_out, 3),
        "out_cost_ratio": round(with_out / plain, 3),
    }


ROWS = [out_dir_cost]
