"""The sweep database as tidy tables for pandas, and the report's zero-spread flag."""

import json
import sqlite3

import pandas as pd

from qdisclab.cli import main
from qdisclab.scenario.sweep import load_rows, open_db, run_sweep

GRID = {"link.bottleneck.qdisc_a": ["pfifo limit 20", "pfifo limit 200"],
        "run.duration": ["100ms"]}  # fmt: skip


def test_read_sql_gives_one_row_per_run_and_metric(tmp_path):
    db = tmp_path / "r.db"
    run_sweep("udp-dumbbell", GRID, [1, 2], db, executor="inline")
    run_sweep("udp-dumbbell", GRID, [1, 2], db, executor="inline")  # resumed: nothing doubles
    con = sqlite3.connect(db)
    tidy = pd.read_sql("SELECT * FROM tidy", con)
    rows = load_rows(db)
    assert len(tidy) == sum(len(r["metrics"]) for r in rows) and len(rows) == 4
    for r in rows:
        mine = tidy[(tidy["seed"] == r["seed"]) & (tidy["params"].map(json.loads) == r["params"])]
        got = dict(zip(mine["metric"], mine["value"], strict=True))
        want = r["metrics"]
        assert got.keys() == want.keys()
        assert all(got[k] == want[k] or (want[k] is None and pd.isna(got[k])) for k in want)
    params = pd.read_sql("SELECT * FROM run_params", con)
    wide = tidy.pivot_table(index="run_id", columns="metric", values="value").join(
        params[params["key"] == "link.bottleneck.qdisc_a"].set_index("run_id")["value"]
    )
    means = wide.groupby("value")["delay_p50_ms_mean"].mean()
    assert means["pfifo limit 20"] < means["pfifo limit 200"]


def test_an_older_database_gets_its_long_tables_filled(tmp_path):
    db = tmp_path / "old.db"
    run_sweep("udp-dumbbell", GRID, [1], db, executor="inline")
    con = sqlite3.connect(db)
    expected = con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    con.executescript("DROP VIEW tidy; DROP TABLE metrics; DROP TABLE run_params;")
    con.close()
    open_db(db).close()
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM tidy").fetchone()[0] == expected > 0


def test_report_flags_a_metric_identical_over_seeds(tmp_path, capsys):
    db = tmp_path / "r.db"
    # one flow on an idle link: nothing the seed drives can change its delay or its drops
    grid = {"run.duration": ["100ms"], "flow.0.rate": ["1mbit"], "run.start_jitter": ["0ms"]}
    run_sweep("udp-dumbbell", grid, [1, 2, 3], db, executor="inline")
    assert main(["report", str(db), "--plots", str(tmp_path / "p"), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    flags = {m: v["identical"] for m, v in entry["metrics"].items()}
    assert flags["drop_ratio"] is True
    assert main(["report", str(db), "--plots", str(tmp_path / "p")]) == 0
    assert "identical over 3 seeds" in capsys.readouterr().out
