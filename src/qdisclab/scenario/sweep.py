"""Parameter sweeps on Dask, results in SQLite (one row per run, resumable).

Besides ``runs`` (one row per run, its parameters and metrics as JSON), the
database holds the long tables ``metrics`` (run_id, metric, value) and
``run_params`` (run_id, key, value), and the view ``tidy`` that joins the
metrics with each run's scenario and seed, so
``pandas.read_sql("SELECT * FROM tidy", db)`` is a tidy frame with no JSON to
parse (``pivot_table(columns="metric")`` makes it wide; join ``run_params``
for the swept values).

>>> grid = parse_grid(["flow.0.rate=10mbit,20mbit", "run.seed=1"])
>>> [sorted(p.items()) for p in expand(grid)]
[[('flow.0.rate', '10mbit')], [('flow.0.rate', '20mbit')]]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qdisclab.errors import UserError
from qdisclab.scenario.loader import coerce

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    scenario TEXT NOT NULL,
    params TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    metrics TEXT,
    error TEXT,
    started REAL,
    finished REAL,
    scenario_hash TEXT,
    UNIQUE (scenario, params, seed)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, metric)
);
CREATE TABLE IF NOT EXISTS run_params (
    run_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (run_id, key)
);
CREATE VIEW IF NOT EXISTS tidy AS
    SELECT runs.id AS run_id, runs.scenario, runs.params, runs.seed, metrics.metric,
           metrics.value
    FROM runs JOIN metrics ON metrics.run_id = runs.id
    WHERE runs.status = 'ok';
"""
COLUMNS = ("id", "scenario", "params", "seed", "status", "metrics", "error", "started",
           "finished", "scenario_hash")  # fmt: skip
# A database waits this long for another sweep's write lock before giving up.
LOCK_TIMEOUT_S = 5.0


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["key=v1,v2", ...]`` -> ``{key: [v1, v2]}`` (``run.seed`` is ignored: use seeds)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values:
            raise UserError(f"--grid expects KEY=V1,V2,..., found {item!r}")
        if key.strip() == "run.seed":
            continue
        grid[key.strip()] = [coerce(v.strip()) for v in values.split(",")]
    return grid


def expand(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = sorted(grid)
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))
    ]


def params_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def run_hash(text: str, params: dict[str, Any]) -> str:
    """What one run ran: the scenario file's text plus the overrides of its grid point.

    >>> run_hash("a", {"x": 1}) == run_hash("a", {"x": 1}) != run_hash("b", {"x": 1})
    True
    """
    return hashlib.sha256(f"{text}\0{params_key(params)}".encode()).hexdigest()


def _db_error(path: str | Path, exc: sqlite3.Error) -> UserError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        why = f"locked by another process (waited {LOCK_TIMEOUT_S:g} s); let it finish or use another --db"
    elif "not a database" in text or "malformed" in text:
        why = "not an SQLite database, or a corrupt one; give another --db"
    else:
        why = f"cannot be opened: {text}"
    return UserError(f"results database {str(path)!r}: {why}")


def open_db(path: str | Path) -> sqlite3.Connection:
    """The sweep database at ``path``, created if new; ``UserError`` when it is not usable.

    A database holding other tables but no ``runs`` table, or a ``runs`` table of
    another shape, is someone else's: it is refused rather than written into.
    """
    db = None
    try:
        db = sqlite3.connect(str(path), timeout=LOCK_TIMEOUT_S)
        tables = {
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and "runs" not in tables:
            raise UserError(f"results database {str(path)!r}: not a qdisclab sweep database "
                            f"(it holds {', '.join(sorted(tables))}); give another --db")  # fmt: skip
        if "runs" in tables:
            columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
            if columns == list(COLUMNS[:-1]):  # written before runs recorded their hash
                db.execute("ALTER TABLE runs ADD COLUMN scenario_hash TEXT")
            elif columns != list(COLUMNS):
                raise UserError(f"results database {str(path)!r}: its runs table is not a "
                                "qdisclab sweep's; give another --db")  # fmt: skip
        db.executescript(SCHEMA)
        # A database written before the metrics table existed: fill it from the JSON once.
        for run_id, params, text in db.execute(
            "SELECT id, params, metrics FROM runs WHERE metrics IS NOT NULL"
            " AND id NOT IN (SELECT run_id FROM metrics)"
        ).fetchall():
            _store_long(db, run_id, json.loads(params), json.loads(text))
        db.commit()
    except sqlite3.Error as exc:
        if db is not None:
            db.close()
        raise _db_error(path, exc) from None
    except UserError:
        db.close()
        raise
    return db


def _store_long(db: sqlite3.Connection, run_id: int, params: dict[str, Any],
                metrics: dict[str, Any] | None) -> None:  # fmt: skip
    """One row per metric and per parameter of run ``run_id`` (replacing earlier ones)."""
    db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
    db.execute("DELETE FROM run_params WHERE run_id = ?", (run_id,))
    db.executemany("INSERT INTO metrics (run_id, metric, value) VALUES (?, ?, ?)",
                   [(run_id, k, v) for k, v in (metrics or {}).items()])  # fmt: skip
    db.executemany("INSERT INTO run_params (run_id, key, value) VALUES (?, ?, ?)",
                   [(run_id, k, str(v)) for k, v in params.items()])  # fmt: skip


def run_one(scenario: str, params: dict[str, Any], seed: int, cwd: str) -> dict[str, Any]:
    """One run (in a worker): never raises; returns a row for the database."""
    import os

    from qdisclab.scenario.runner import run_scenario

    started = time.time()
    try:
        if cwd:
            os.chdir(cwd)
        results = run_scenario(scenario, seed=seed, overrides=params)
        return {"status": "ok", "metrics": results["summary"], "error": None,
                "started": started, "finished": time.time()}  # fmt: skip
    except Exception as exc:  # a failing run is data, not a crash of the sweep
        text = (
            str(exc)
            if not isinstance(exc, KeyError | AttributeError)
            else traceback.format_exc(limit=3)
        )
        return {"status": "error", "metrics": None, "error": f"{type(exc).__name__}: {text}",
                "started": started, "finished": time.time()}  # fmt: skip


def record(db: sqlite3.Connection, scenario: str, params: dict[str, Any], seed: int,
           row: dict[str, Any], scenario_hash: str) -> None:  # fmt: skip
    for (old,) in db.execute("SELECT id FROM runs WHERE scenario = ? AND params = ? AND seed = ?",
                             (scenario, params_key(params), seed)).fetchall():  # fmt: skip
        _store_long(db, old, {}, {})  # the row is replaced below, with a new id
    cur = db.execute(
        "INSERT OR REPLACE INTO runs (scenario, params, seed, status, metrics, error, started,"
        " finished, scenario_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (scenario, params_key(params), seed, row["status"],
         None if row["metrics"] is None else json.dumps(row["metrics"]), row["error"],
         row["started"], row["finished"], scenario_hash),
    )  # fmt: skip
    _store_long(db, cur.lastrowid, params, row["metrics"])
    db.commit()  # each finished run is durable at once: an interrupt loses nothing done


def pending(db: sqlite3.Connection, scenario: str, grid: dict[str, list[Any]], seeds: list[int],
            text: str) -> tuple[list[tuple[dict[str, Any], int]], int]:  # fmt: skip
    """The runs still to do, and how many of them were done from a different scenario.

    A run is done when it is stored ok with the hash of what it would run now;
    one stored ok from an edited file (or before hashes were recorded) is changed.
    """
    done = {(p, s): h for p, s, h in db.execute(
        "SELECT params, seed, scenario_hash FROM runs WHERE scenario = ? AND status = 'ok'",
        (scenario,))}  # fmt: skip
    todo, changed = [], 0
    for p in expand(grid):
        key, want = params_key(p), run_hash(text, p)
        for s in seeds:
            stored = done.get((key, s), False)
            if stored == want:
                continue
            changed += stored is not False
            todo.append((p, s))
    return todo, changed


def run_sweep(
    scenario: str,
    grid: dict[str, list[Any]],
    seeds: list[int],
    db_path: str | Path,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    executor: str = "dask",
    on_result: Callable[[dict[str, Any], int, dict[str, Any]], None] | None = None,
    rerun_changed: bool = False,
) -> dict[str, int]:
    """Run every (params, seed) not yet ok; returns counts {total, skipped, ok, error, changed}.

    ``executor="inline"`` runs in this process (for debugging); ``"dask"`` uses
    ``scheduler`` (an address) or a ``LocalCluster`` of ``workers`` processes.
    Runs stored from a different version of the scenario are refused
    (``UserError``) unless ``rerun_changed``, which runs them afresh.
    """
    import os

    from qdisclab.scenario.library import load_any

    text = load_any(scenario, expand(grid)[0] if grid else {}).text  # fail fast on bad input
    db = open_db(db_path)
    try:
        todo, changed = pending(db, scenario, grid, seeds, text)
    except sqlite3.Error as exc:
        db.close()
        raise _db_error(db_path, exc) from None
    if changed and not rerun_changed:
        db.close()
        raise UserError(f"results database {str(db_path)!r}: {changed} finished run(s) of "
                        f"{scenario!r} were made from a different version of the scenario; "
                        "pass --rerun-changed to run them afresh, or use another --db")  # fmt: skip
    counts = {"total": len(expand(grid)) * len(seeds), "skipped": 0, "ok": 0, "error": 0,
              "changed": changed}  # fmt: skip
    counts["skipped"] = counts["total"] - len(todo)
    cwd = os.getcwd()

    def done(params: dict[str, Any], seed: int, row: dict[str, Any]) -> None:
        try:
            record(db, scenario, params, seed, row, run_hash(text, params))
        except sqlite3.Error as exc:
            raise _db_error(db_path, exc) from None
        counts[row["status"]] += 1
        if on_result is not None:
            on_result(params, seed, row)

    try:
        if executor == "inline" or not todo:
            for params, seed in todo:
                done(params, seed, run_one(scenario, params, seed, ""))
        else:
            _run_dask(scenario, todo, cwd, scheduler, workers, done)
    finally:
        db.close()
    return counts


def _run_dask(scenario: str, todo: list, cwd: str, scheduler: str | None, workers: int,
              done: Callable[..., None]) -> None:  # fmt: skip
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)  # fmt: skip
        client = Client(cluster)
    try:
        futures = {}
        for params, seed in todo:
            fut = client.submit(run_one, scenario, params, seed, cwd, pure=False)
            futures[fut] = (params, seed)
        for fut in as_completed(futures):
            params, seed = futures[fut]
            done(params, seed, fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def load_rows(db_path: str | Path) -> list[dict[str, Any]]:
    if not Path(db_path).is_file():
        raise UserError(f"no results database at {str(db_path)!r}")
    try:
        db = sqlite3.connect(str(db_path), timeout=LOCK_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise _db_error(db_path, exc) from None
    try:
        rows = db.execute("SELECT scenario, params, seed, status, metrics, error FROM runs"
                          " ORDER BY scenario, params, seed").fetchall()  # fmt: skip
    except sqlite3.OperationalError as exc:
        if "no such" not in str(exc):
            raise _db_error(db_path, exc) from None
        raise UserError(f"results database {str(db_path)!r}: not a qdisclab sweep database "
                        f"({exc})") from None  # fmt: skip
    except sqlite3.Error as exc:
        raise _db_error(db_path, exc) from None
    finally:
        db.close()
    return [{"scenario": s, "params": json.loads(p), "seed": seed, "status": st,
             "metrics": json.loads(m) if m else None, "error": e}
            for s, p, seed, st, m, e in rows]  # fmt: skip


def compare(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (scenario, params): for each metric mean, std (sample) and n over ok seeds."""
    import statistics

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], params_key(r["params"])), []).append(r)
    out = []
    for (scenario, pk), members in groups.items():
        ok = [m for m in members if m["status"] == "ok"]
        metrics: dict[str, dict[str, float]] = {}
        names = sorted({k for m in ok for k, v in m["metrics"].items() if v is not None})
        for name in names:
            values = [m["metrics"][name] for m in ok if m["metrics"].get(name) is not None]
            metrics[name] = {"mean": statistics.fmean(values),
                             "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                             "n": len(values),
                             # the same value from every seed: its ± 0 says nothing about spread
                             "identical": len(values) > 1 and min(values) == max(values)}  # fmt: skip
        out.append({"scenario": scenario, "params": json.loads(pk), "runs": len(members),
                    "errors": len(members) - len(ok), "metrics": metrics})  # fmt: skip
    return out


def report_plots(table: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """One PNG per (scenario, swept key, metric): metric vs the key's values, ±std."""
    from qdisclab.measure.plots import metric_vs_param

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario in sorted({t["scenario"] for t in table}):
        entries = [t for t in table if t["scenario"] == scenario]
        keys = sorted(k for k in {k for t in entries for k in t["params"]}
                      if len({json.dumps(t["params"].get(k)) for t in entries}) > 1)  # fmt: skip
        metrics = sorted({m for t in entries for m in t["metrics"]})
        for key in keys:
            others = [k for k in keys if k != key]
            for metric in metrics:
                lines: dict[str, dict[str, tuple[float, float]]] = {}
                for t in entries:
                    if metric not in t["metrics"] or key not in t["params"]:
                        continue
                    label = ", ".join(f"{k}={t['params'].get(k)}" for k in others) or metric
                    m = t["metrics"][metric]
                    lines.setdefault(label, {})[str(t["params"][key])] = (m["mean"], m["std"])
                if not lines:
                    continue
                xs = sorted({x for v in lines.values() for x in v})
                means = {
                    lb: [v.get(x, (float("nan"), 0))[0] for x in xs] for lb, v in lines.items()
                }
                stds = {lb: [v.get(x, (0, 0.0))[1] for x in xs] for lb, v in lines.items()}
                safe = f"{scenario}_{metric}_vs_{key}".replace("/", "_").replace(":", "_")
                written.append(metric_vs_param(xs, means, stds, key, metric, out / f"{safe}.png"))
    return written
