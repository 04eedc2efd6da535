"""Sweeps: interrupt, resume on Dask, each run exactly once; failures recorded; report."""

import json
import sqlite3

import pytest

from qdisclab.cli import main
from qdisclab.scenario.sweep import compare, load_rows, run_sweep

GRID = {"link.bottleneck.qdisc_a": ["pfifo limit 20", "pfifo limit 200"],
        "run.duration": ["150ms"]}  # fmt: skip


def test_interrupt_then_resume_each_run_once(tmp_path):
    db = tmp_path / "r.db"
    seen = []

    def stop_after_three(params, seed, row):
        seen.append((params, seed))
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            "udp-dumbbell", GRID, [1, 2, 3], db, executor="inline", on_result=stop_after_three
        )
    assert len(load_rows(db)) == 3  # the finished runs survived the interrupt
    counts = run_sweep("udp-dumbbell", GRID, [1, 2, 3], db, executor="dask", workers=2)
    assert counts == {"total": 6, "skipped": 3, "ok": 3, "error": 0, "changed": 0}
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT params, seed, status, COUNT(*) FROM runs GROUP BY params, seed"
    ).fetchall()
    assert len(rows) == 6 and all(r[2] == "ok" and r[3] == 1 for r in rows)
    # a third pass does nothing
    assert run_sweep("udp-dumbbell", GRID, [1, 2, 3], db, executor="inline")["skipped"] == 6
    table = compare(load_rows(db))
    small = next(t for t in table if t["params"]["link.bottleneck.qdisc_a"] == "pfifo limit 20")
    big = next(t for t in table if t["params"]["link.bottleneck.qdisc_a"] == "pfifo limit 200")
    assert small["metrics"]["delay_p50_ms_mean"]["n"] == 3
    assert (
        small["metrics"]["delay_p50_ms_mean"]["mean"] < big["metrics"]["delay_p50_ms_mean"]["mean"]
    )


def test_failing_run_is_recorded_and_sweep_goes_on(tmp_path):
    db = tmp_path / "r.db"
    grid = {"link.bottleneck.rate": ["100mbit", "0mbit"], "run.duration": ["50ms"]}
    counts = run_sweep("udp-dumbbell", grid, [1], db, executor="inline")
    assert counts["ok"] == 1 and counts["error"] == 1
    bad = next(r for r in load_rows(db) if r["status"] == "error")
    assert "rate" in bad["error"] and "above zero" in bad["error"]


def test_cli_sweep_and_report(tmp_path, capsys):
    db = tmp_path / "r.db"
    assert main(["sweep", "udp-dumbbell", "--grid", "link.bottleneck.qdisc_a=pfifo limit 20,pfifo limit 50",
                 "--grid", "run.duration=100ms", "--seeds", "2", "--db", str(db), "--inline"]) == 0  # fmt: skip
    assert "4 runs: 0 already done, 4 ok" in capsys.readouterr().out
    plots = tmp_path / "plots"
    assert main(["report", str(db), "--plots", str(plots), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert len(table) == 2 and all(t["runs"] == 2 for t in table)
    pngs = list(plots.glob("*.png"))
    assert len(pngs) == 4  # four metrics vs the one swept key
    assert all(p.stat().st_size > 5000 for p in pngs)
    assert main(["sweep", "udp-dumbbell", "--grid", "nosuch.key=1", "--db", str(db)]) == 2


def test_tcp_bufferbloat_sweep_and_report(tmp_path, capsys):
    """pfifo vs fq_codel on a short bufferbloat run, 2 seeds each; report table and plots."""
    db = tmp_path / "bb.db"
    assert main(["sweep", "bufferbloat", "--grid", "link.bottleneck.qdisc_a=pfifo limit 100,fq_codel",
                 "--grid", "run.duration=2s", "--seeds", "2", "--db", str(db), "--inline"]) == 0  # fmt: skip
    assert "4 runs: 0 already done, 4 ok" in capsys.readouterr().out
    rows = load_rows(db)
    assert len(rows) == 4 and {r["seed"] for r in rows} == {1, 2}
    assert all(r["metrics"]["tcp_retrans"] is not None for r in rows)
    plots = tmp_path / "plots"
    assert main(["report", str(db), "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    assert "fq_codel" in out and "pfifo limit 100" in out and "ping.rtt_p50_ms" in out
    table = compare(rows)
    metrics = sorted({m for t in table for m in t["metrics"]})
    assert {"ping.rtt_p50_ms", "tcp_rtt_p50_ms_mean", "tcp_retrans",
            "throughput_mbps_total"} <= set(metrics)  # fmt: skip
    pngs = sorted(plots.glob("*.png"))
    # one plot per metric against the one swept key (run.duration has a single value)
    assert [p.name for p in pngs] == [f"bufferbloat_{m}_vs_link.bottleneck.qdisc_a.png"
                                      for m in metrics]  # fmt: skip
    assert all(p.stat().st_size > 5000 for p in pngs)
    by_qdisc = {t["params"]["link.bottleneck.qdisc_a"]: t for t in table}
    assert all(t["runs"] == 2 and t["errors"] == 0 for t in table)
    # the swept qdisc really changed the run: the probe no longer waits behind the bulk flow
    assert (by_qdisc["fq_codel"]["metrics"]["ping.rtt_p50_ms"]["mean"] * 2
            < by_qdisc["pfifo limit 100"]["metrics"]["ping.rtt_p50_ms"]["mean"])  # fmt: skip


def test_sweep_on_an_existing_dask_cluster_by_address(tmp_path, capsys):
    from dask.distributed import LocalCluster

    db = tmp_path / "r.db"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:  # fmt: skip
        code = main(["sweep", "udp-dumbbell", "--grid", "run.duration=60ms,80ms", "--seeds", "1",
                     "--db", str(db), "--scheduler", cluster.scheduler_address])  # fmt: skip
        assert code == 0
        # the runs went through that cluster's scheduler, which kept their compute time
        prefix = cluster.scheduler.task_prefixes.get("run_one")
        assert prefix is not None and prefix.all_durations["compute"] > 0
    assert "2 runs: 0 already done, 2 ok" in capsys.readouterr().out
    rows = load_rows(db)
    assert sorted(r["params"]["run.duration"] for r in rows) == ["60ms", "80ms"]
    assert all(r["status"] == "ok" for r in rows)


def _scenario_file(tmp_path, qdisc: str):
    from qdisclab.scenario.library import builtin_text

    path = tmp_path / "s.toml"
    path.write_text(
        builtin_text("udp-dumbbell").replace('qdisc_a = "pfifo"', f'qdisc_a = "{qdisc}"')
    )
    return path


def test_resume_refuses_results_of_an_edited_scenario(tmp_path, capsys):
    db = tmp_path / "r.db"
    path = _scenario_file(tmp_path, "pfifo limit 20")
    args = ["sweep", str(path), "--grid", "run.duration=50ms", "--db", str(db), "--inline"]
    assert main(args) == 0
    assert main(args) == 0  # unchanged: everything is already done
    assert "1 runs: 1 already done, 0 ok" in capsys.readouterr().out
    _scenario_file(tmp_path, "pfifo limit 30")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "1 finished run(s)" in err and "--rerun-changed" in err and str(db) in err
    old = load_rows(db)[0]["metrics"]
    assert main([*args, "--rerun-changed"]) == 0
    assert (
        "0 already done, 1 ok, 0 failed (1 re-run: the scenario changed)" in capsys.readouterr().out
    )
    rows = load_rows(db)
    assert len(rows) == 1 and rows[0]["metrics"] != old  # the stale row was replaced
    assert main(args) == 0  # the new version is now what is stored
    assert "1 already done" in capsys.readouterr().out


def test_a_changed_override_is_a_different_run(tmp_path):
    db = tmp_path / "r.db"
    grid = {"run.duration": ["50ms"]}
    run_sweep("udp-dumbbell", grid, [1], db, executor="inline")
    counts = run_sweep("udp-dumbbell", {"run.duration": ["60ms"]}, [1], db, executor="inline")
    assert counts["ok"] == 1 and counts["changed"] == 0  # another grid point, not a change


def _locked(db):
    holder = sqlite3.connect(db)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    return holder


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda db: db.write_bytes(b"this is not sqlite" * 100), "not an SQLite database, or a corrupt one"),
        (lambda db: db.mkdir(), "cannot be opened"),
        (lambda db: sqlite3.connect(db).execute("CREATE TABLE other (x)").connection.commit(),
         "not a qdisclab sweep database (it holds other)"),
        (lambda db: sqlite3.connect(db).execute("CREATE TABLE runs (x)").connection.commit(),
         "its runs table is not a qdisclab sweep's"),
    ],
)  # fmt: skip
def test_unusable_database_is_one_line(tmp_path, capsys, make, fragment):
    db = tmp_path / "r.db"
    make(db)
    assert (
        main(["sweep", "udp-dumbbell", "--grid", "run.duration=50ms", "--db", str(db), "--inline"])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"results database {str(db)!r}" in err and fragment in err, err


def test_locked_database_is_one_line(tmp_path, capsys, monkeypatch):
    import qdisclab.scenario.sweep as sweep

    monkeypatch.setattr(sweep, "LOCK_TIMEOUT_S", 0.1)
    db = tmp_path / "r.db"
    holder = _locked(db)
    try:
        assert (
            main(
                [
                    "sweep",
                    "udp-dumbbell",
                    "--grid",
                    "run.duration=50ms",
                    "--db",
                    str(db),
                    "--inline",
                ]
            )
            == 2
        )
    finally:
        holder.rollback()
        holder.close()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "locked by another process" in err, err


def test_report_of_a_corrupt_database_is_one_line(tmp_path, capsys):
    db = tmp_path / "r.db"
    db.write_bytes(b"garbage" * 1000)
    assert main(["report", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not an SQLite database" in err, err


def test_a_database_from_before_hashes_is_upgraded_and_its_runs_count_as_changed(tmp_path):
    db = tmp_path / "r.db"
    con = sqlite3.connect(db)
    con.executescript(sweep_schema_without_hash())
    con.execute("INSERT INTO runs (scenario, params, seed, status, metrics) VALUES (?, ?, 1, 'ok', '{}')",
                ("udp-dumbbell", json.dumps({"run.duration": "50ms"})))  # fmt: skip
    con.commit()
    con.close()
    with pytest.raises(Exception, match="different version of the scenario"):
        run_sweep("udp-dumbbell", {"run.duration": ["50ms"]}, [1], db, executor="inline")
    counts = run_sweep("udp-dumbbell", {"run.duration": ["50ms"]}, [1], db, executor="inline",
                       rerun_changed=True)  # fmt: skip
    assert counts["changed"] == 1 and counts["ok"] == 1


def sweep_schema_without_hash() -> str:
    from qdisclab.scenario.sweep import SCHEMA

    return SCHEMA.replace("    scenario_hash TEXT,\n", "")
