"""What ``--out`` costs: the built-in ``dumbbell`` run with a run directory against without.

The ratio is wall time with ``--out`` (CSVs, results.json, tc stats and the
plots, drawn by a worker process that imported matplotlib during the run)
over the same run without it, the best of interleaved pairs so machine noise
hits both alike. The acceptance figure is at most 1.3.
"""

from __future__ import annotations

import gc
import tempfile
import time
from typing import Any

from qdisclab.bench import Budget


def _timed_run(out: str | None, overrides: dict[str, Any]) -> float:
    from qdisclab.scenario.api import Scenario

    scenario = Scenario.load("dumbbell", overrides)
    gc.collect()
    t0 = time.perf_counter()
    scenario.run(out=out)
    return time.perf_counter() - t0


def out_dir_cost(budget: Budget) -> dict[str, Any]:
    """Seconds of the dumbbell without and with ``--out``, and their ratio."""
    overrides = {"run.duration": "1s"} if budget.quick else {}
    plain = with_out = float("inf")
    for _ in range(1 if budget.quick else 2):
        plain = min(plain, _timed_run(None, overrides))
        with tempfile.TemporaryDirectory() as out:
            with_out = min(with_out, _timed_run(out, overrides))
    return {
        "dumbbell_run_s": round(plain, 3),
        "dumbbell_run_with_out_s": round(with_out, 3),
        "out_cost_ratio": round(with_out / plain, 3),
    }


ROWS = [out_dir_cost]
