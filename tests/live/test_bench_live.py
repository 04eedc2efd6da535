"""The live bench row: figures as root, the missing requirement named otherwise."""

from __future__ import annotations

import pytest

from qdisclab.bench import Budget, run_bench
from qdisclab.live import bench as bench_live


def test_row_names_what_is_missing(monkeypatch):
    monkeypatch.setattr(bench_live.host, "missing_requirements", lambda **kw: ["root", "iperf3"])
    assert bench_live.live_forwarding(Budget(quick=True)) == {"live_skipped": "needs root, iperf3"}
    # the suite runs it after its own rows, selected by name like them: only it
    figures = run_bench(quick=True, only="live", extra_rows=tuple(bench_live.ROWS))
    assert figures == {"live_skipped": "needs root, iperf3"}


@pytest.mark.root
def test_row_reports_speed_through_pfifo_and_fq_codel(live_tools):
    figures = bench_live.live_forwarding(Budget(quick=True))
    for kind in ("pfifo", "fq_codel"):
        mbps, pps = figures[f"live_{kind}_mbps"], figures[f"live_{kind}_pps"]
        assert mbps > 20 and pps > 1000  # an unshaped path: far above any shaping rate used
        # 1500-byte packets: goodput (payload) is at most what the packets carried
        assert mbps * 1e6 / 8 <= pps * 1500 * 1.05
