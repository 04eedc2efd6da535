"""Tidy tables of a run's results: one row per flow, TCP flow, qdisc, probe or time bin.

``Results`` is the results dict (what ``--json`` prints) with table views:
nested values are flattened into columns (``delay_ms.p50`` becomes
``delay_ms_p50``, ``dropped.codel`` becomes ``dropped_codel``), so each
table is a list of flat rows, a pandas DataFrame (``flows_df()``...) and a
CSV file under ``--out``.

>>> r = Results({"flows": [{"flow": "a", "delay_ms": {"p50": 1.5}, "dropped": {}}]})
>>> r.table("flows")
[{'flow': 'a', 'delay_ms_p50': 1.5}]
>>> float(r.flows_df().loc[0, "delay_ms_p50"])
1.5
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qdisclab.measure.tcpseries import COLUMNS as SERIES_COLUMNS

TABLES = ("flows", "tcp", "qdiscs", "probes")


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts become ``outer_inner`` columns; lists become their length's neighbours."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}_"))
        elif isinstance(value, list | tuple):
            continue  # series live in their own table
        else:
            out[name] = value
    return out


class Results(dict):
    """A run's results: the JSON-ready dict, plus tidy tables and DataFrames.

    ``series`` holds the per-flow time series rows (``SERIES_COLUMNS``), kept
    out of the JSON and made on first use (a ``--json`` run never reads them);
    ``series_df()`` is its DataFrame.
    """

    wall_s: float | None = None  # the run's wall-clock seconds (kept out of the dict)
    series_source: Callable[[], list[tuple[Any, ...]]] | None = None  # makes ``series``
    _series: list[tuple[Any, ...]] | None = None

    @property
    def series(self) -> list[tuple[Any, ...]]:
        if self._series is None:
            self._series = self.series_source() if self.series_source is not None else []
        return self._series

    @series.setter
    def series(self, rows: list[tuple[Any, ...]]) -> None:
        self._series = rows

    def to_json(self) -> dict[str, Any]:
        """The dict with ``wall_s`` added: what ``--json`` prints and results.json holds."""
        return {**self, "wall_s": self.wall_s}

    def table(self, name: str) -> list[dict[str, Any]]:
        """Rows of table ``name`` (one of ``TABLES``, or ``"series"``), flat."""
        if name == "series":
            return [dict(zip(SERIES_COLUMNS, r, strict=True)) for r in self.series]
        return [flatten(row) for row in self.get(name, [])]

    def df(self, name: str) -> Any:
        """Table ``name`` as a pandas DataFrame (all rows share its columns, missing = NaN)."""
        import pandas as pd

        rows = self.table(name)
        if name == "series" and not rows:
            return pd.DataFrame(columns=list(SERIES_COLUMNS))
        return pd.DataFrame(rows)

    def flows_df(self) -> Any:
        """Every flow (data, probe and reverse directions): packets, bytes, throughput, delay."""
        return self.df("flows")

    def tcp_df(self) -> Any:
        """Every TCP flow: goodput over the window, RTT, retransmissions."""
        return self.df("tcp")

    def qdiscs_df(self) -> Any:
        """Every qdisc: tc counters and sojourn time over the window."""
        return self.df("qdiscs")

    def probes_df(self) -> Any:
        """Probes (ping, tcx programs, netkit/veth pairs)."""
        return self.df("probes")

    def series_df(self) -> Any:
        """Per-flow time series: goodput, cwnd, smoothed and sampled RTT, retransmissions."""
        return self.df("series")

    def summary_df(self) -> Any:
        """The one-number metrics as a one-row DataFrame (what sweeps store)."""
        import pandas as pd

        return pd.DataFrame([self.get("summary", {})])

    def write_csv(self, out: Path) -> list[Path]:
        """``<table>.csv`` for each non-empty table under ``out``; returns the files."""
        written = []
        for name in (*TABLES, "series"):
            rows = self.table(name)
            if not rows:
                continue
            columns: dict[str, None] = {}
            for row in rows:
                columns.update(dict.fromkeys(row))
            path = out / ("tcp-series.csv" if name == "series" else f"{name}.csv")
            with path.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(columns))
                w.writeheader()
                w.writerows(rows)
            written.append(path)
        return written
