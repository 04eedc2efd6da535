"""Each built-in scenario runs shortened and meets its expected outcome (or skips naming the gap)."""

import pytest

from qdisclab.scenario import builtin_names, run_scenario
from qdisclab.scenario.build import run_loaded
from qdisclab.scenario.library import builtin_text, load_builtin

from .conftest import require_builtin


def test_all_builtins_are_shipped_and_valid_toml():
    import tomllib

    names = builtin_names()
    for want in ("dumbbell", "bufferbloat-pfifo", "bufferbloat-fq_codel", "fairness", "edt",
                 "netkit-vs-veth", "udp-dumbbell"):  # fmt: skip
        assert want in names
        assert tomllib.loads(builtin_text(want))["run"]["duration"]


def test_udp_dumbbell_fills_bottleneck_and_shares_it():
    res = run_scenario("udp-dumbbell", duration_ns=2_000_000_000)  # queue full after ~0.6 s
    s = res["summary"]
    # 4 x 30 mbit offered into 100 mbit: the link is saturated, flows share it evenly.
    assert 97 < s["throughput_mbps_total"] <= 100.5
    assert s["jain"] > 0.98
    # pfifo limit = txqueuelen 1000 packets of 1500 B at 100 mbit: 120 ms queue + ~11 ms path.
    assert 120 < s["delay_p50_ms_mean"] < 135
    assert res["traces"]["R1:eth0"]["max_qlen"] == 1000


def test_run_builtin_api_still_works():
    from qdisclab.scenario import run_builtin

    res = run_builtin("udp-dumbbell", seed=2, duration_ns=100_000_000)
    assert set(res) >= {"scenario", "seed", "duration_s", "window_s", "flows", "qdiscs",
                        "conservation", "faults"}  # fmt: skip
    assert res["seed"] == 2 and res["duration_s"] == 0.1


def test_same_seed_same_results():
    a = run_scenario("udp-dumbbell", duration_ns=200_000_000, seed=5)
    b = run_scenario("udp-dumbbell", duration_ns=200_000_000, seed=5)
    assert a == b


def test_ping_probe_sees_the_full_pfifo_buffer():
    """Ping through a UDP-overloaded 10 mbit pfifo limit 100: RTT ~ 120 ms queue + base RTT."""
    ov = {"link.bottleneck.rate": "10mbit", "link.bottleneck.qdisc_a": "pfifo limit 100",
          "flow.0.rate": "15mbit", "run.duration": "3s"}  # fmt: skip
    loaded = load_builtin("udp-dumbbell", ov)
    raw = loaded.raw
    raw["flow"] = [raw["flow"][0], {"type": "ping", "src": "S2", "dst": "D2", "name": "ping",
                                    "interval": "100ms"}]  # fmt: skip
    import tomli_w

    from qdisclab.scenario.loader import load_text

    res = run_loaded(load_text(tomli_w.dumps(raw), "t.toml"))
    probe = res["probes"][0]
    assert probe["samples"] >= 10  # the full pfifo tail-drops some requests too
    # base RTT 2 x (10 + 0.5 + 0.5) ms = 22 ms; full buffer 100 x 1500 B at 10 mbit = 120 ms
    assert 130 < probe["rtt_ms"]["p50"] < 150


@pytest.mark.parametrize("variant", ["pfifo", "fq_codel"])
def test_bufferbloat_variants(variant):
    require_builtin(f"bufferbloat-{variant}")
    require_builtin("bufferbloat-fq_codel")
    rtt = {}
    for v in ("pfifo", "fq_codel"):
        res = run_loaded(load_builtin(f"bufferbloat-{v}", {"run.duration": "8s"}))
        rtt[v] = res["probes"][0]["rtt_ms"]["p50"]
    assert rtt["pfifo"] > 100  # near the full buffer (120 ms + 22 ms base)
    assert rtt["fq_codel"] < rtt["pfifo"] / 3


def test_dumbbell():
    loaded = require_builtin("dumbbell")
    del loaded
    res = run_scenario("dumbbell", duration_ns=4_000_000_000)
    assert res["summary"]["throughput_mbps_total"] > 85
    assert res["summary"]["jain"] > 0.9


def test_fairness():
    require_builtin("fairness")
    res = run_scenario("fairness", duration_ns=4_000_000_000)
    assert res["summary"]["throughput_mbps_total"] > 80


def test_edt():
    require_builtin("edt")
    res = run_scenario("edt", duration_ns=3_000_000_000)
    assert 17 < res["summary"]["throughput_mbps_total"] < 21  # paced to 20 mbit by EDT


def test_netkit_vs_veth():
    require_builtin("netkit-vs-veth")
    res = run_scenario("netkit-vs-veth", duration_ns=200_000_000)
    flows = {f["flow"]: f for f in res["flows"]}
    # netkit hands packets straight to the peer's stack; veth waits for the softirq poll
    # (20 us; 1 gbit of 1500 B packets = one every 12 us, so some packets share a poll)
    assert flows["netkit"]["delay_ms"]["max"] == 0.0
    assert flows["veth"]["delay_ms"]["max"] == 0.02
    assert flows["netkit"]["delay_ms"]["p50"] < flows["veth"]["delay_ms"]["p50"]
    assert abs(flows["netkit"]["throughput_mbps"] - flows["veth"]["throughput_mbps"]) < 1
