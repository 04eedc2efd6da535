"""Each built-in scenario runs shortened and meets its expected outcome (or skips naming the gap)."""

from qdisclab.scenario import builtin_names, run_scenario
from qdisclab.scenario.build import run_loaded
from qdisclab.scenario.library import builtin_text, load_builtin

from .conftest import require_builtin


def test_all_builtins_are_shipped_and_valid_toml():
    import tomllib

    names = builtin_names()
    for want in ("dumbbell", "bufferbloat", "bufferbloat-pfifo", "bufferbloat-fq_codel", "fairness", "edt",
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


def _bufferbloat(qdisc):
    res = run_scenario("bufferbloat", duration_ns=8_000_000_000,
                       overrides={"link.bottleneck.qdisc_a": qdisc})  # fmt: skip
    return res["probes"][0]["rtt_ms"]["p50"], res["tcp"][0]


def test_bufferbloat_fq_codel_keeps_the_probe_rtt_near_base():
    """pfifo limit 100 at 10 mbit: 100 x 1500 B = 120 ms of queue on a 22 ms base RTT."""
    require_builtin("bufferbloat")
    pfifo, tcp_pfifo = _bufferbloat("pfifo limit 100")
    codel, tcp_codel = _bufferbloat("fq_codel")
    # CUBIC refills the buffer after each loss and backs off only to 0.7 x (BDP + 100):
    # the queue swings between ~65 and 100 packets, 78-120 ms, on top of 22 ms.
    assert 95 < pfifo < 145
    # the probe is a sparse flow in fq_codel: served from new flows, near the base RTT
    assert codel < 40 and codel < pfifo / 3
    for tcp in (tcp_pfifo, tcp_codel):
        # 10 mbit x 1448/1514 = 9.56 of payload (frames count the Ethernet header); a hole
        # filled inside the window releases reassembled data at once, hence the 2% slack.
        assert 8.5 < tcp["goodput_mbps"] <= 10 * 1448 / 1514 * 1.02


def test_bufferbloat_variants_are_the_two_qdiscs():
    for variant, qdisc in (("pfifo", "pfifo limit 100"), ("fq_codel", "fq_codel")):
        link = load_builtin(f"bufferbloat-{variant}").scenario.link[1]
        assert link.name == "bottleneck" and link.qdisc_a == qdisc
    assert load_builtin("bufferbloat").scenario.link[1].qdisc_a == "pfifo limit 100"


def test_dumbbell_is_the_default_and_shares_the_bottleneck():
    from qdisclab.scenario import default_scenario

    require_builtin("dumbbell")
    assert default_scenario() == "dumbbell"
    s = load_builtin("dumbbell").scenario
    assert [f.start for f in s.flow] == ["0ms", "100ms", "200ms", "300ms"]
    assert {f.cc for f in s.flow} == {"cubic"} and {f.mss for f in s.flow} == {1448}
    res = run_scenario("dumbbell", duration_ns=4_000_000_000)  # window scales to 1-4 s
    assert len(res["tcp"]) == 4
    # fq_codel gives each flow a quarter of 100 mbit; goodput is 1448/1514 of it
    # (the frame counts the Ethernet header): 95.64 mbit, plus 2% for reassembly
    # released in the window
    assert 90 < res["summary"]["throughput_mbps_total"] <= 100 * 1448 / 1514 * 1.02
    assert res["summary"]["jain"] > 0.95


def test_fairness_fq_codel_evens_out_rtt_unfairness():
    """Six CUBIC flows with base RTTs 23-181 ms: under a shared pfifo the short-RTT flow
    grows faster and takes more; fq_codel's per-flow queues give everyone ~C/6."""
    require_builtin("fairness")
    jain = {}
    for qdisc in ("pfifo", "fq_codel"):
        res = run_scenario("fairness", duration_ns=6_000_000_000,
                           overrides={"link.bottleneck.qdisc_a": qdisc})  # fmt: skip
        jain[qdisc] = res["summary"]["jain"]
        gp = [t["goodput_mbps"] for t in res["tcp"]]
        assert sum(gp) > 85
        if qdisc == "pfifo":
            assert gp[0] > gp[-1]  # 23 ms RTT beats 181 ms RTT
    assert jain["fq_codel"] > 0.9 and jain["fq_codel"] > jain["pfifo"]


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
