"""The benchmark suite behind ``qdisclab bench``.

Every figure is measured in one process and, where it is a speed, reported
next to its ratio to a bare ``heapq`` event loop measured in the same minutes
(alternating runs of both sides, best of each), so results compare across
machines and machine noise hits both sides alike. Modules in this package named ``bench_*``
each define ``ROWS``: a list of functions ``(budget) -> dict`` whose keys are
added to the report (later layers add their own modules).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

BenchRow = Callable[["Budget"], dict[str, Any]]


class Budget:
    """How long to measure: ``quick`` for tests, full for real numbers."""

    def __init__(self, quick: bool = False) -> None:
        self.quick = quick

    def scale(self, n: int) -> int:
        return max(1, n // 20) if self.quick else n


def all_rows() -> list[BenchRow]:
    import qdisclab.bench as pkg

    rows: list[BenchRow] = []
    for info in sorted(
        pkgutil.iter_modules(pkg.__path__), key=lambda i: (i.name != "bench_core", i.name)
    ):
        if info.name.startswith("bench_") or info.name == "startup":  # startup: import_s
            module = importlib.import_module(f"{pkg.__name__}.{info.name}")
            rows.extend(module.ROWS)
    return rows


def run_bench(
    quick: bool = False,
    only: str | None = None,
    progress: Callable[[str], None] | None = None,
    extra_rows: tuple[BenchRow, ...] = (),
) -> dict[str, Any]:
    """Run every benchmark row, then ``extra_rows`` (from layers beside this one); one flat dict."""
    budget = Budget(quick)
    results: dict[str, Any] = {}
    for row in all_rows() + list(extra_rows):
        wanted = not only or only in row.__module__ or only in row.__name__
        if not wanted:  # every ratio measures its own reference, interleaved with its run
            continue
        if progress is not None:
            progress(row.__name__)
        results.update(row(budget))
    return results
