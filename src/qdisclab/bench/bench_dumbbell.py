"""The default dumbbell's cost, and compiled against pure Python in the same install.

Each run is ``qdisclab run <scenario> --json`` in a fresh process, as a user
runs it. A process is timed twice: its wall time, and its CPU time (user +
system, from ``os.wait4``), which is what the ratios use: on a shared machine
a process's CPU time barely moves with the load while its wall time does, and
for this single-threaded run the two are equal on a quiet machine.

When the install is compiled, the pure-Python figure comes from the same
install with ``QDISCLAB_PURE=1`` (qdisclab/_native.py), the two alternated and
the best of each kept, so machine noise hits both alike. The 64- and 256-flow
variants are the default scenario with more sender/receiver pairs (a shorter
simulated time keeps the row short).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from qdisclab._native import PACKAGE_DIR, decide
from qdisclab.bench import Budget

BUILTIN = (
    Path(PACKAGE_DIR) / "scenario" / "builtin"
)  # read as files: nothing of the scenario layer runs here


class Timed:
    """One finished run: its results (the ``--json`` output) and its times."""

    __slots__ = ("cpu_s", "results", "wall_s")

    def __init__(self, results: dict[str, Any], wall_s: float, cpu_s: float) -> None:
        self.results = results
        self.wall_s = wall_s
        self.cpu_s = cpu_s


def run_scenario(scenario: str, args: list[str], pure: bool | None = None) -> Timed:
    """``qdisclab run SCENARIO --json ARGS`` in a fresh process; ``pure`` sets QDISCLAB_PURE."""
    env = {k: v for k, v in os.environ.items() if k != "QDISCLAB_PURE" or pure is None}
    if pure:
        env["QDISCLAB_PURE"] = "1"
    cmd = [sys.executable, "-m", "qdisclab", "run", scenario, "--json", *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.decode(errors='replace')[-500:]}")
    return Timed(json.loads(out), wall, usage.ru_utime + usage.ru_stime)


def dumbbell_with_flows(n: int, duration_s: float) -> str:
    """The default dumbbell's TOML with ``n`` sender/receiver pairs, ``duration_s`` long.

    The pairs copy the default's first pair (access links, flow options); starts
    are spread over the default's first 400 ms, so n = 4 gives the default's.
    """
    import tomli_w

    base = tomllib.loads((BUILTIN / "dumbbell.toml").read_text())
    access = [link for link in base["link"] if link.get("name") != "bottleneck"]
    up, down = access[0], access[1]  # S1 -> R1, R2 -> D1
    flow = base["flow"][0]
    hosts = [node for node in base["node"] if node["kind"] != "host"]
    links = [link for link in base["link"] if link.get("name") == "bottleneck"]
    flows = []
    for i in range(1, n + 1):
        src, dst = f"S{i}", f"D{i}"
        hosts += [{"name": src, "kind": "host"}, {"name": dst, "kind": "host"}]
        links += [{**up, "a": src}, {**down, "b": dst}]
        flows.append({**flow, "src": src, "dst": dst, "start": f"{(i - 1) * 400 // n}ms"})
    run = {
        **base["run"],
        "duration": f"{duration_s}s",
        "window": [f"{duration_s / 4}s", f"{duration_s}s"],
        # The budget check estimates each flow at its access link's rate, but the n flows
        # share one bottleneck: a million packets per flow keeps these known runs inside it.
        "packet_budget": 1_000_000 * n,
    }
    doc = {"description": f"the default dumbbell with {n} flows", "run": run,
           "node": hosts, "link": links, "flow": flows}  # fmt: skip
    return tomli_w.dumps(doc)


def dumbbell(budget: Budget) -> dict[str, Any]:
    """The default scenario as it is installed: wall time, events, events per second."""
    args = ["--duration", "2s"] if budget.quick else []
    best: Timed | None = None
    for _ in range(1 if budget.quick else 2):
        timed = run_scenario("dumbbell", args)
        if best is None or timed.wall_s < best.wall_s:
            best = timed
    assert best is not None
    events = int(best.results["events"])
    return {
        "build": str(decide()[0]),
        "dumbbell_wall_s": round(best.wall_s, 3),
        "dumbbell_cpu_s": round(best.cpu_s, 3),
        "dumbbell_events": events,
        # events per second of the simulation itself (the run's own wall_s, not start-up)
        "dumbbell_events_per_s": round(events / float(best.results["wall_s"])),
    }


def _paired(scenario: str, args: list[str], repeats: int) -> tuple[Timed, Timed]:
    """Best (by CPU time) pure and compiled runs, alternated; their whole results must agree."""
    pure = compiled = None
    for _ in range(repeats):
        p, c = run_scenario(scenario, args, pure=True), run_scenario(scenario, args, pure=False)
        pure = p if pure is None or p.cpu_s < pure.cpu_s else pure
        compiled = c if compiled is None or c.cpu_s < compiled.cpu_s else compiled
    assert pure is not None and compiled is not None
    if _seeded(pure.results) != _seeded(compiled.results):
        raise RuntimeError(f"{scenario}: compiled and pure runs gave different results")
    return pure, compiled


def _seeded(results: dict[str, Any]) -> dict[str, Any]:
    """A run's results without its wall-clock time: what the scenario and seed decide."""
    return {key: value for key, value in results.items() if key != "wall_s"}


def compiled_over_pure(budget: Budget) -> dict[str, Any]:
    """Compiled ÷ pure CPU time of the default dumbbell and its 64- and 256-flow variants."""
    info, _warning = decide(environ={})
    if not info.compiled:
        return {"compiled_over_pure": f"not measured: {info}"}
    # As many turns as the other ratio rows (bench_core): a fresh process's CPU time swings
    # by a fifth between back-to-back runs on a shared machine, and the best of 3 of each
    # side still left a row's ratio 0.1 apart between invocations.
    repeats = 1 if budget.quick else 5
    rows: dict[str, Any] = {}
    cases = [("dumbbell", "dumbbell", ["--duration", "2s"] if budget.quick else [])]
    with tempfile.TemporaryDirectory() as tmp:
        for n, seconds in ((64, 0.5 if budget.quick else 4.0), (256, 0.3 if budget.quick else 2.0)):
            path = Path(tmp) / f"dumbbell{n}.toml"
            path.write_text(dumbbell_with_flows(n, seconds))
            cases.append((f"dumbbell{n}", str(path), []))
        for name, scenario, args in cases:
            pure, compiled = _paired(scenario, args, repeats)
            rows[f"{name}_pure_cpu_s"] = round(pure.cpu_s, 3)
            rows[f"{name}_compiled_cpu_s"] = round(compiled.cpu_s, 3)
            rows[f"{name}_compiled_over_pure"] = round(compiled.cpu_s / pure.cpu_s, 3)
            rows[f"{name}_compiled_over_pure_wall"] = round(compiled.wall_s / pure.wall_s, 3)
    return rows


ROWS = [dumbbell, compiled_over_pure]
