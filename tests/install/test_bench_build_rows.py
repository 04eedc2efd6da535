"""The bench rows of the build: the dumbbell figures, compiled over pure, unlistened tracepoints."""

from __future__ import annotations

import ast
import tomllib

import pytest

from qdisclab._native import decide
from qdisclab.bench import Budget
from qdisclab.bench.bench_dumbbell import BUILTIN, compiled_over_pure, dumbbell, dumbbell_with_flows
from qdisclab.bench.bench_tracepoints import ShortCircuit, tracepoint_cost


def _links(doc):
    return sorted((link["a"], link["b"], link["rate"], link["delay"]) for link in doc["link"])


def test_the_four_flow_variant_is_the_default_dumbbell():
    base = tomllib.loads((BUILTIN / "dumbbell.toml").read_text())
    made = tomllib.loads(dumbbell_with_flows(4, 20))
    assert sorted(n["name"] for n in made["node"]) == sorted(n["name"] for n in base["node"])
    assert _links(made) == _links(base)
    assert made["flow"] == base["flow"]  # same pairs, options and starts
    assert made["run"]["duration"] == "20s"


def test_the_many_flow_variant_has_one_pair_and_flow_per_flow():
    made = tomllib.loads(dumbbell_with_flows(64, 2.0))
    assert len(made["flow"]) == 64 and len(made["node"]) == 2 + 128
    assert len(made["link"]) == 1 + 128
    assert made["run"]["window"] == ["0.5s", "2.0s"]
    assert max(int(f["start"].removesuffix("ms")) for f in made["flow"]) < 400


def test_the_rewrite_removes_probe_tests_only():
    source = (
        "def f(self, tp, port):\n"
        "    if tp.listeners:\n        tp.emit(1)\n"
        "    if self.traced_xmit:\n        self.tp_xmit.emit(2)\n"
        "    if port in self.listeners:\n        return 3\n"
        "    return 4\n"
    )
    rewrite = ShortCircuit()
    rewrite.module = "m"
    tree = ast.fix_missing_locations(rewrite.visit(ast.parse(source)))
    assert rewrite.sites == ["m:2", "m:4"]
    namespace: dict = {}
    exec(compile(tree, "m", "exec"), namespace)

    class Probe:
        listeners = (print,)
        traced_xmit = True

        def emit(self, _x):
            raise AssertionError("a short-circuited probe ran")

    assert namespace["f"](Probe(), Probe(), 7) == 4


def test_tracepoint_cost_row_removes_the_known_sites_and_keeps_the_run_identical():
    row = tracepoint_cost(Budget(quick=True))  # raises if the event counts differ
    assert row["tracepoint_sites_short_circuited"] >= 8
    assert 0.5 < row["tracepoint_unlistened_ratio"] < 2.0


def test_dumbbell_row_counts_events_and_their_rate():
    row = dumbbell(Budget(quick=True))
    assert row["dumbbell_events"] > 10_000
    assert row["dumbbell_events_per_s"] > 1_000
    assert row["dumbbell_wall_s"] >= row["dumbbell_cpu_s"] * 0.5
    assert row["build"] == str(decide()[0])


@pytest.mark.pure_compare
def test_compiled_over_pure_row_pairs_the_two_builds():
    row = compiled_over_pure(Budget(quick=True))
    info = decide(environ={})[0]
    if not info.compiled:
        assert row == {"compiled_over_pure": f"not measured: {info}"}
        return
    for name in ("dumbbell", "dumbbell64", "dumbbell256"):
        assert 0 < row[f"{name}_compiled_over_pure"] < 1.5
        assert row[f"{name}_pure_cpu_s"] > 0


@pytest.mark.parametrize(("flows", "seconds"), [(64, 4.0), (256, 2.0)])
def test_the_many_flow_variants_pass_the_scenario_checks_at_the_bench_durations(flows, seconds):
    from qdisclab.scenario.checks import check_packet_budget
    from qdisclab.scenario.loader import load_text

    loaded = load_text(dumbbell_with_flows(flows, seconds), f"dumbbell{flows}.toml")
    check_packet_budget(loaded)  # the budget check that refused them before it scaled with n
    assert loaded.scenario.run.packet_budget == 1_000_000 * flows


def test_the_pairing_refuses_builds_whose_results_differ_anywhere_but_the_wall_clock(monkeypatch):
    from qdisclab.bench import bench_dumbbell

    base = {"flows": [{"flow": "a", "sent_packets": 5}], "qdiscs": [{"drops": 1}], "wall_s": 1.0}
    runs = {True: base, False: {**base, "wall_s": 0.5}}  # by pure

    def fake_run(scenario, args, pure=None):
        return bench_dumbbell.Timed(runs[bool(pure)], 1.0, 2.0 if pure else 1.0)

    monkeypatch.setattr(bench_dumbbell, "run_scenario", fake_run)
    pure, compiled = bench_dumbbell._paired("dumbbell", [], 1)  # only wall_s differs
    assert pure.cpu_s == 2.0 and compiled.cpu_s == 1.0
    runs[False] = {**base, "qdiscs": [{"drops": 2}]}  # the flows agree, a qdisc does not
    with pytest.raises(RuntimeError, match="different results"):
        bench_dumbbell._paired("dumbbell", [], 1)
