"""Acceptance: BPF congestion controls (dctcp.bpf.o, cubic.bpf.o) run as their built-in twins."""

from __future__ import annotations

import shutil

import pytest
from bpf_corpus import EXAMPLES, obj

from qdisclab.bpf.bpf_cc import attach_cc, cc_kind
from qdisclab.bpf.objects import load_object
from qdisclab.errors import ExtensionFault
from qdisclab.net import World
from qdisclab.scenario.loader import ScenarioError, load_file
from qdisclab.scenario.simulation import Simulation
from qdisclab.tcp import TcpStack
from qdisclab.tcp.congestion import register_cc, unregister_cc


def _run(tmp_path, scenario: str, overrides: dict[str, str]):
    """Run examples/bpf/``scenario`` from a copy beside the corpus objects; results, traces."""
    for name in (scenario, "dctcp.bpf.o", "cubic.bpf.o", "fifo.bpf.o"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    sim = Simulation(load_file(tmp_path / scenario, overrides), seed=None, policy="strict")
    results = sim.run()
    traces = {o.name: o.cwnd_trace() for o in sim.ctx.objects if hasattr(o, "cwnd_trace")}
    ca = {o.name: o.sk.icsk_ca_ops for o in sim.ctx.objects if hasattr(o, "cwnd_trace")}
    return results, traces, ca


def test_bpf_dctcp_cwnd_trace_equals_builtin_dctcp(tmp_path):
    bpf, bpf_traces, bpf_ca = _run(tmp_path, "dctcp.toml", {})
    python, py_traces, py_ca = _run(
        tmp_path, "dctcp.toml", {"flow.0.cc": "dctcp", "flow.1.cc": "dctcp"}
    )
    assert [f["cc"] for f in bpf["tcp"]] == ["bpf_dctcp", "bpf_dctcp"]
    assert bpf_traces.keys() == py_traces.keys() == {"S1->D1", "S2->D2"}
    for flow, trace in bpf_traces.items():
        # Every point: time, cwnd, ssthresh, srtt and pacing rate.
        assert trace == py_traces[flow]
        # The marker bit: DCTCP cut its window many times, by alpha rather than by half.
        cuts = sum(1 for a, b in zip(trace["cwnd"], trace["cwnd"][1:], strict=False) if b < a)
        assert cuts > 5
        # alpha lives in icsk_ca_priv (struct dctcp's fourth u32), the built-in's on self.
        alpha = int.from_bytes(bpf_ca[flow].priv[12:16], "little")
        assert alpha == py_ca[flow].alpha and 0 < alpha < 1024
    assert bpf["summary"]["tcp_retrans"] == 0  # the marks, not losses, did the cutting
    assert bpf["summary"] == python["summary"]


def test_bpf_cubic_matches_builtin_cubic_exactly(tmp_path):
    # The dumbbell behind the BPF FIFO: losses, fast recovery and the cubic curve.
    overrides = {"run.duration": "3s", "run.window": ["1s", "3s"]}
    bpf, bpf_traces, _ = _run(tmp_path, "dumbbell_fifo.toml", {
        **overrides, **{f"flow.{i}.cc": "bpf:cubic.bpf.o" for i in range(4)}
    })  # fmt: skip
    python, py_traces, _ = _run(tmp_path, "dumbbell_fifo.toml", overrides)
    assert {f["cc"] for f in bpf["tcp"]} == {"bpf_cubic"}
    assert sum(f["retrans"] for f in bpf["tcp"]) > 0  # losses: ssthresh and the epoch ran
    assert bpf_traces == py_traces
    assert [f["goodput_mbps"] for f in bpf["tcp"]] == [f["goodput_mbps"] for f in python["tcp"]]


def test_cc_spec_names_the_field_for_a_missing_object(tmp_path):
    shutil.copy(EXAMPLES / "dctcp.toml", tmp_path / "dctcp.toml")
    with pytest.raises(ScenarioError, match=r"flow\[0\]\.cc.*nothere\.bpf\.o.*does not exist"):
        load_file(tmp_path / "dctcp.toml", {"flow.0.cc": "bpf:nothere.bpf.o"})


def _socket_run(kind_name: str, policy: str):
    w = World(seed=1, policy=policy)
    a, b = w.add_host("A"), w.add_host("B")
    w.connect(a, b, "100mbit", "5ms")
    w.build_routes()
    TcpStack.of(b).listen(80)
    sk = TcpStack.of(a).connect(b.addr, 80, "f1", kind_name)
    sk.send(1_000_000)
    w.run(500_000_000)
    return w, sk


@pytest.mark.no_conservation_check  # strict stops the run where the fault is
def test_faulting_program_is_diagnosed_under_strict_and_contained_under_contain():
    # A budget too small for cubic_cong_avoid: the fault a runaway program would hit.
    kind = cc_kind(load_object(obj("cubic")), budget=40)
    kind.name = "bpf_cubic_tiny"
    register_cc(kind)
    try:
        with pytest.raises(ExtensionFault) as caught:
            _socket_run("bpf_cubic_tiny", "strict")
        err = caught.value
        assert err.kind == "tcp_congestion_ops bpf_cubic_tiny"
        assert "instruction budget" in err.problem and "insn " in err.problem
        assert "cubic.bpf.c:" in err.problem and "socket f1" in str(err)
        w, sk = _socket_run("bpf_cubic_tiny", "contain")
        [(where, name, text)] = w.faults
        assert (where, name) == ("f1", "bpf_cubic_tiny") and "insn " in text
        assert sk.icsk_ca_ops.name == "reno"  # detached: the socket carries on with reno
        assert sk.bytes_acked > 500_000
    finally:
        unregister_cc("bpf_cubic_tiny")


def test_attaching_the_same_object_twice_reuses_its_kind():
    first = attach_cc(obj("dctcp"))
    assert attach_cc(obj("dctcp")) is first
    assert (first.name, first.flags) == ("bpf_dctcp", 2)  # TCP_CONG_NEEDS_ECN from .flags


def test_a_compiled_congestion_control_is_verified_when_a_flow_loads_it(tmp_path):
    for name in ("dctcp.toml", "dctcp.bpf.o"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    loaded = load_file(tmp_path / "dctcp.toml", {"run.duration": "100ms"})
    kind = attach_cc(tmp_path / "dctcp.bpf.o")
    if "refusal" in kind.__dict__:  # verified by an earlier test of this process
        delattr(kind, "refusal")
    Simulation(loaded, seed=None, policy="off")  # off: loads unverified
    assert "refusal" not in kind.__dict__
    Simulation(loaded, seed=None, policy="strict")
    assert "refusal" in kind.__dict__ and kind.refusal is None  # verified and accepted
