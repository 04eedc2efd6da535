"""The storage benchmark runs and reports every row (no timing assertions)."""

from qdisclab.tcp.bench_storage import bench_storage


def test_bench_storage_reports_every_row():
    rows = bench_storage(target_gets=100)
    expected = {f"storage_get_ns_{n}maps" for n in (1, 16, 17, 32, 1000)}
    expected.add("storage_inline_get_ns")
    assert expected <= rows.keys()
    assert all(isinstance(v, float) and v > 0 for v in rows.values())
