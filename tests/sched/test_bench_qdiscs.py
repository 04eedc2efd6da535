"""The qdisc benchmark rows run (quick budget) and report every key."""

from qdisclab.bench import Budget
from qdisclab.bench.bench_qdiscs import ROWS


def test_rows_report_pairs_and_ratios() -> None:
    out: dict = {}
    for row in ROWS:
        out.update(row(Budget(quick=True)))
    for key in ("pfifo", "fq_codel_10flows", "fq_codel_10000flows", "fq_10flows", "fq_10000flows"):
        assert out[f"pairs_per_s_{key}"] > 0
    assert out["ownership_check_ratio_pfifo"] > 0 and out["ownership_check_ratio_fq_codel"] > 0
