"""N long flows through fq_codel share the bottleneck (validation.md: Jain > 0.95)."""

from __future__ import annotations

from qdisclab.bench.bench_tcp import tcp_dumbbell
from qdisclab.measure import jain_index

SEC = 1_000_000_000


def test_four_cubic_flows_through_fq_codel_share_fairly():
    w, flows = tcp_dumbbell(n=4, cc="cubic")
    w.run(4 * SEC)
    goodputs = [f.goodput_bps(SEC, 4 * SEC) for f in flows]
    assert jain_index(goodputs) > 0.95, goodputs
    # ... and together they fill the 100 mbit bottleneck (1448/1500 payload).
    assert sum(goodputs) > 0.9 * 100e6 * 1448 / 1500
    w.check_conservation()


def test_control_a_single_fifo_is_measurably_less_fair():
    # Control for the test above: the same topology through a single FIFO, where
    # fairness depends on congestion control alone, is measurably less fair.
    w, flows = tcp_dumbbell(n=4, cc="cubic", qdisc="pfifo limit 1000")
    w.run(4 * SEC)
    fifo = jain_index([f.goodput_bps(SEC, 4 * SEC) for f in flows])
    w, flows = tcp_dumbbell(n=4, cc="cubic")
    w.run(4 * SEC)
    fq = jain_index([f.goodput_bps(SEC, 4 * SEC) for f in flows])
    assert fifo < 0.9 < fq, (fifo, fq)
