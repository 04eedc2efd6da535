"""Measurements a researcher can trust: summaries, windows, sojourn, events, seeds, series."""

from __future__ import annotations

import csv
import json

import pytest

from qdisclab.measure import jain_index, percentile
from qdisclab.net.tracepoints import NET_DEV_RECEIVE, NET_DEV_XMIT
from qdisclab.scenario.api import Scenario
from qdisclab.scenario.library import builtin_text, load_builtin
from qdisclab.scenario.loader import load_text
from qdisclab.scenario.simulation import Simulation

SHORT_DUMBBELL = {"run.duration": "2s"}  # window scales to [0.5 s, 2 s)


@pytest.fixture(scope="module")
def dumbbell_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dumbbell")
    res = Scenario.load("dumbbell", {**SHORT_DUMBBELL, "run.record.events": ["qdisc:R1:eth0"]}).run(
        out=out
    )
    return res, out


def test_bufferbloat_jain_counts_the_one_data_flow_not_the_ping():
    res = Scenario.load("bufferbloat", {"run.duration": "2s"}).run()
    roles = {f["flow"]: f["role"] for f in res["flows"]}
    assert roles["S->D"] == "data" and roles["ping"] == "probe"
    assert roles["S->D.r"] == roles["ping:reply"] == "reverse"
    assert res["summary"]["jain"] == 1.0
    tcp = res["tcp"][0]
    assert res["summary"]["throughput_mbps_total"] == tcp["goodput_mbps"] > 0


def test_fairness_with_a_probe_reports_jain_of_the_tcp_flows_only():
    text = builtin_text("fairness") + '\n[[flow]]\ntype = "ping"\nsrc = "S1"\ndst = "D1"\n'
    loaded = load_text(text, "fairness+ping.toml", overrides={"run.duration": "2s"})
    res = Simulation(loaded).run()
    goodputs = [t["goodput_mbps"] for t in res["tcp"]]
    assert len(goodputs) == 6 and res["probes"][0]["samples"] > 0
    assert res["summary"]["jain"] == round(jain_index(goodputs), 6)
    ping = next(f for f in res["flows"] if f["role"] == "probe")["throughput_mbps"]
    assert res["summary"]["jain"] != round(jain_index([*goodputs, ping]), 6)


def test_a_100ms_run_reports_bytes_in_the_window_over_the_window():
    sim = Simulation(load_builtin("udp-dumbbell", {"run.duration": "100ms"}))
    start, end = sim.window
    assert (start, end) == (50_000_000, 100_000_000)
    received: dict[str, int] = {}

    def count(now, dev, skb):
        if dev.node.name.startswith("D") and start <= now < end:
            # the device sees the Ethernet frame; throughput counts the IP packets delivered
            received[skb.flow.name] = received.get(skb.flow.name, 0) + skb.len - skb.mac_len

    sim.tracepoint(NET_DEV_RECEIVE).attach(count)
    res = sim.run()
    for row in res["flows"]:
        expected = round(received[row["flow"]] * 8 / ((end - start) / 1e9) / 1e6, 6)
        assert row["throughput_mbps"] == expected > 0


def test_a_100ms_tcp_run_has_nonzero_goodput():
    res = Scenario.load("bufferbloat", {"run.duration": "100ms"}).run()
    assert res["tcp"][0]["goodput_mbps"] > 0


def _pair_sojourns(rows, window):
    enq = {}
    out = []
    for r in rows:
        if r["event"] == "enqueue":
            enq[r["pkt"]] = int(r["time_ns"])
        elif r["event"] == "dequeue":
            t = int(r["time_ns"])
            if window[0] <= t < window[1]:
                out.append(t - enq[r["pkt"]])
    return sorted(out)


def test_dumbbell_sojourn_p99_matches_the_recorded_events(dumbbell_run):
    res, out = dumbbell_run
    row = next(q for q in res["qdiscs"] if (q["node"], q["dev"]) == ("R1", "eth0"))
    soj = row["sojourn_ms"]
    with (out / "events.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if (r["node"], r["dev"]) == ("R1", "eth0")]
    values = _pair_sojourns(rows, (500_000_000, 2_000_000_000))
    assert soj["packets"] == len(values) > 1000
    assert soj["p99"] == percentile(values, 99) / 1e6
    assert soj["max"] == values[-1] / 1e6 and soj["p50"] == percentile(values, 50) / 1e6
    assert soj["p90"] == percentile(values, 90) / 1e6
    assert abs(soj["mean"] - sum(values) / len(values) / 1e6) <= 5e-7  # rounded to the ns
    assert soj["p99"] > soj["p50"] > 0  # fq_codel keeps a standing queue near its target


def test_event_file_counts_equal_the_qdisc_counters(dumbbell_run):
    res, out = dumbbell_run
    q = next(q for q in res["qdiscs"] if (q["node"], q["dev"]) == ("R1", "eth0"))
    counts: dict[str, int] = {}
    dequeued_bytes = 0
    with (out / "events.csv").open() as f:
        for r in csv.DictReader(f):
            counts[r["event"]] = counts.get(r["event"], 0) + 1
            if r["event"] == "dequeue":
                dequeued_bytes += int(r["len"])
    assert counts["dequeue"] == q["packets"] and dequeued_bytes == q["bytes"]
    assert counts.get("drop", 0) == q["drops"]
    assert counts["enqueue"] - counts["dequeue"] - counts.get("drop", 0) == q["qlen"]
    assert res["recorded_events"] == sum(counts.values())


def test_bypassed_packets_have_their_enqueue_and_dequeue_rows(tmp_path):
    # udp-dumbbell's bottleneck is a pfifo that an idle wire bypasses: those packets are
    # counted in its packets and must still appear in the event file, once each way.
    res = Scenario.load(
        "udp-dumbbell", {"run.duration": "1s", "run.record.events": ["qdisc:R1:eth0"]}
    ).run(out=tmp_path)
    q = next(q for q in res["qdiscs"] if (q["node"], q["dev"]) == ("R1", "eth0"))
    assert q["kind"] == "pfifo"
    with (tmp_path / "events.csv").open() as f:
        rows = list(csv.DictReader(f))
    dequeues = [r for r in rows if r["event"] == "dequeue"]
    enqueued = {r["pkt"] for r in rows if r["event"] == "enqueue"}
    bypassed = sum(1 for r in dequeues if r["pkt"] == "0" or r["pkt"] not in enqueued)
    assert len(dequeues) == q["packets"]
    assert all(r["pkt"] in enqueued for r in dequeues), f"{bypassed} dequeues without enqueue"
    same_time = {(r["pkt"], r["time_ns"]) for r in rows if r["event"] == "enqueue"}
    assert sum(1 for r in dequeues if (r["pkt"], r["time_ns"]) in same_time) > 0  # the bypass


def test_events_as_parquet(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs pyarrow")
    # fq_codel at the bottleneck: a pfifo lets packets bypass it when the link is idle
    over = {"run.duration": "300ms", "run.record.events": ["qdisc:R1:eth0", "net:R1:eth0"],
            "run.record.events_format": "parquet",
            "link.bottleneck.qdisc_a": "fq_codel"}  # fmt: skip
    res = Scenario.load("udp-dumbbell", over).run(out=tmp_path, plots=False)
    table = pq.read_table(tmp_path / "events.parquet").to_pandas()
    q = next(q for q in res["qdiscs"] if (q["node"], q["dev"]) == ("R1", "eth0"))
    assert (table["event"] == "dequeue").sum() == q["packets"]
    assert (table["event"] == "xmit").sum() == q["packets"]


def test_throughput_png_has_one_line_per_tcp_flow(dumbbell_run):
    res, out = dumbbell_run
    assert (out / "throughput.png").stat().st_size > 5000
    with (out / "throughput.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["flow"] for r in rows} == {t["flow"] for t in res["tcp"]}
    late = [float(r["mbps"]) for r in rows if float(r["time_s"]) > 1.0]
    assert sum(late) / len(late) > 15  # four flows sharing 100 mbit


def test_tcp_series_csv(dumbbell_run):
    res, out = dumbbell_run
    with (out / "tcp-series.csv").open() as f:
        rows = list(csv.DictReader(f))
    flows = {t["flow"]: t for t in res["tcp"]}
    assert {r["flow"] for r in rows} == set(flows)
    for name, t in flows.items():
        mine = [r for r in rows if r["flow"] == name]
        assert sum(int(r["retrans"]) for r in mine) == t["retrans"]
        assert all(r["cwnd"] and r["srtt_ms"] for r in mine[4:])  # every flow started by 0.4 s
    assert (out / "queue-delay.png").stat().st_size > 5000


def test_seeds_change_per_flow_goodput_and_zero_jitter_keeps_starts():
    a = Scenario.load("dumbbell", SHORT_DUMBBELL).run(seed=1)
    b = Scenario.load("dumbbell", SHORT_DUMBBELL).run(seed=2)
    assert [t["goodput_mbps"] for t in a["tcp"]] != [t["goodput_mbps"] for t in b["tcp"]]
    spec_starts = [0, 100_000_000, 200_000_000, 300_000_000]
    for jitter, seed in (("0ms", 1), ("0ms", 2), ("1ms", 1), ("1ms", 2)):
        over = {"run.duration": "400ms", "run.start_jitter": jitter}
        sim = Scenario.load("dumbbell", over).build(seed=seed)
        first: dict[str, int] = {}

        def xmit(now, dev, skb, first=first):
            if dev.node.name.startswith("S"):
                first.setdefault(dev.node.name, now)

        sim.tracepoint(NET_DEV_XMIT).attach(xmit)
        sim.run()
        starts = [first[f"S{i}"] for i in range(1, 5)]
        if jitter == "0ms":
            assert starts == spec_starts
        else:
            offsets = [s - t for s, t in zip(starts, spec_starts, strict=True)]
            assert all(0 <= o < 1_000_000 for o in offsets) and len(set(offsets)) == 4


def test_the_seed_perturbs_the_flow_hash_of_fq_codel():
    seen = {}
    for seed in (1, 2):
        sim = Scenario.load("dumbbell", {"run.duration": "10ms"}).build(seed=seed)
        qdisc = sim.device("R1:eth0").qdisc
        assert qdisc.kind == "fq_codel" and qdisc.hash_seed == sim.world.hash_seed
        seen[seed] = qdisc.hash_seed
    assert seen[1] != seen[2]


def test_ping_rtt_percentiles_cover_the_window():
    res = Scenario.load("bufferbloat", {"run.duration": "4s"}).run()
    probe = res["probes"][0]
    # 100 ms pings: ~40 in the run, the window [~0.67 s, 4 s) holds about 33
    assert probe["samples_run"] > probe["samples"] > 25
    assert probe["rtt_ms"]["p50"] >= probe["rtt_ms_run"]["p50"]  # the queue builds up
    assert res["summary"]["ping.rtt_p50_ms"] == probe["rtt_ms"]["p50"]


PROGRAMS = """
from qdisclab.tcx import TCX_DROP, TCX_NEXT

def look(ctx):
    return TCX_NEXT

def drop_odd_ports(ctx):
    return TCX_DROP if ctx.skb.sport % 2 else TCX_NEXT
"""


def test_tcx_summary_is_per_program(tmp_path):
    (tmp_path / "progs.py").write_text(PROGRAMS)
    text = builtin_text("udp-dumbbell") + "".join(
        f'\n[[tcx]]\ndev = "R1:eth0"\nprogram = "progs.py:{name}"\nname = "{name}"\n'
        for name in ("look", "drop_odd_ports")
    )
    (tmp_path / "s.toml").write_text(text)
    res = Scenario.load(tmp_path / "s.toml", {"run.duration": "200ms"}).run()
    probes = {p["probe"]: p for p in res["probes"] if p.get("kind") == "tcx"}
    look, dropper = probes["look"], probes["drop_odd_ports"]
    assert look["runs"] == dropper["runs"] == look["verdicts"]["next"] > 0
    assert dropper["verdicts"]["drop"] == dropper["hook"]["drop"] > 0
    assert dropper["verdicts"]["drop"] + dropper["verdicts"].get("next", 0) == look["runs"]
    assert "drop" not in look["verdicts"]


def test_notebook_attach_tcx_callable_first_and_swap_qdisc():
    from qdisclab.tcx import TCX_DROP, TCX_NEXT

    seen = []

    def first(ctx):
        seen.append(1)
        return TCX_NEXT

    def drop_all(ctx):
        return TCX_DROP

    s = Scenario.load("udp-dumbbell", {"run.duration": "100ms"})
    s.attach_tcx("R1:eth0", drop_all).attach_tcx("R1:eth0", first, first=True)
    s.swap_qdisc("bottleneck", "fq_codel")
    res = s.run()
    q = next(q for q in res["qdiscs"] if (q["node"], q["dev"]) == ("R1", "eth0"))
    assert q["kind"] == "fq_codel" and q["packets"] == 0
    probes = {p["probe"]: p for p in res["probes"]}
    assert probes["tcx:R1:eth0:egress:first"]["runs"] == len(seen) > 0
    assert probes["tcx:R1:eth0:egress:drop_all"]["verdicts"] == {"drop": len(seen)}


def test_dataframes_and_csv_tables(dumbbell_run):
    res, out = dumbbell_run
    flows = res.flows_df()
    assert set(flows["role"]) == {"data", "reverse"}
    qd = res.qdiscs_df()
    r1 = qd[(qd["node"] == "R1") & (qd["dev"] == "eth0")].iloc[0]
    assert r1["sojourn_ms_p99"] == next(q for q in res["qdiscs"] if q["kind"] == "fq_codel")[
        "sojourn_ms"]["p99"]  # fmt: skip
    series = res.series_df()
    assert set(series["flow"]) == set(res.tcp_df()["flow"]) and len(series) >= 4 * 19
    for name in ("flows.csv", "tcp.csv", "qdiscs.csv", "tcp-series.csv"):
        assert (out / name).stat().st_size > 100
    saved = json.loads((out / "results.json").read_text())
    assert saved["events"] == res["events"] > 0 and saved["wall_s"] > 0


def test_run_json_has_events_wall_time_and_sojourn(capsys):
    from qdisclab.cli import main

    assert main(["run", "dumbbell", "--json", "--duration", "300ms"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["events"] > 1000 and data["wall_s"] > 0
    assert all(set(q["sojourn_ms"]) == {"packets", "mean", "p50", "p90", "p99", "max"}
               for q in data["qdiscs"])  # fmt: skip


def test_no_plots_skips_pngs_but_keeps_data(tmp_path):
    from qdisclab.cli import main

    assert main(["run", "udp-dumbbell", "--duration", "200ms", "--out", str(tmp_path),
                 "--no-plots"]) == 0  # fmt: skip
    assert not list(tmp_path.glob("*.png"))
    assert (tmp_path / "flows.csv").exists() and (tmp_path / "results.json").exists()


def test_bad_event_selection_is_one_line_error():
    from qdisclab.errors import UserError

    with pytest.raises(UserError, match=r"run\.record\.events.*NODE:DEV"):
        load_builtin("dumbbell", {"run.record.events": ["qdisc:R1"]})
    with pytest.raises(UserError, match="no device R9:eth0"):
        Scenario.load("dumbbell", {"run.record.events": ["qdisc:R9:eth0"]}).build()


def test_out_cost_bench_row_reports_the_ratio():
    from qdisclab.bench import Budget
    from qdisclab.bench.bench_outputs import ROWS

    (row,) = ROWS
    figures = row(Budget(quick=True))
    assert figures["dumbbell_run_with_out_s"] > 0 and figures["dumbbell_run_s"] > 0  # no timing
    with_out, plain = figures["dumbbell_run_with_out_s"], figures["dumbbell_run_s"]
    ratio = with_out / plain
    # The seconds shown are rounded to 1 ms, the ratio to 0.001: the ratio of the
    # rounded seconds may differ by their relative rounding errors, and no more.
    slack = 0.0005 + ratio * (0.0005 / with_out + 0.0005 / plain) * 1.01
    assert abs(figures["out_cost_ratio"] - ratio) <= slack


def test_sojourn_and_events_through_a_peeking_parent():
    """tbf peeks its child (dequeue + requeue): each packet counts once in each qdisc."""
    from qdisclab.measure.events import EventRecorder
    from qdisclab.measure.sojourn import SojournRecorder
    from qdisclab.net import World
    from qdisclab.traffic import CbrSource, UdpSink

    w = World(seed=1)
    a, b = w.add_host("A"), w.add_host("B")
    lk = w.connect(a, b, "100mbit", "1ms", qdisc_a="tbf rate 5mbit burst 5kb limit 30kb")
    w.build_routes()
    UdpSink(b, 9)
    soj, ev = SojournRecorder(w.sched), EventRecorder(w, ["qdisc:A:eth0"])
    CbrSource(a, b.addr, 9, "f", rate="10mbit", size=1000, stop=100_000_000)
    w.run(300_000_000)
    tbf, child = list(lk.a.qdisc.walk())
    rows = list(zip(ev.columns["event"], ev.columns["qdisc"], strict=True))
    for q in (tbf, child):
        handle = f"{q.handle >> 16:x}:"
        assert soj.summary(q, (0, 300_000_000))["packets"] == q.packets > 50
        assert rows.count(("dequeue", handle)) == q.packets
    assert rows.count(("drop", f"{child.handle >> 16:x}:")) == child.drops == tbf.drops > 0
    # the parent waited at least as long as its child for every packet
    assert soj.summary(tbf, (0, 300_000_000))["max"] >= soj.summary(child, (0, 300_000_000))["max"]


def _notebook_fifo(limit_default):
    from qdisclab.ops import SkbList
    from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps

    class NotebookFifo(QdiscOps):  # the same cell, edited and run again
        id = "nb_fifo"

        def init(self, sch, opt):
            self.q = SkbList()
            sch.limit = opt.get("limit", limit_default)

        def enqueue(self, skb, sch, to_free):
            if sch.q.qlen >= sch.limit:
                return sch.drop(skb, to_free)
            self.q.push_back(skb)
            return NET_XMIT_SUCCESS

        def dequeue(self, sch):
            return self.q.pop_front()

        def reset(self, sch):
            self.q.clear()

        def destroy(self, sch):
            pass

    return NotebookFifo


def test_an_edited_extension_replaces_the_old_one_and_live_instances_keep_theirs():
    from qdisclab.errors import KernelError
    from qdisclab.scenario.extensions import register_extension
    from qdisclab.sched import QDISC_OPS

    first, edited = _notebook_fifo(5), _notebook_fifo(7)
    register_extension(first)
    old = Scenario.load("udp-dumbbell", {"run.duration": "10ms"})
    old_sim = old.swap_qdisc("bottleneck", "nb_fifo").build()
    register_extension(edited)  # EEXIST before: now the struct_ops link update
    assert QDISC_OPS.lookup("nb_fifo") is edited
    new_sim = old.build()
    assert type(old_sim.device("R1:eth0").qdisc.ops) is first
    assert new_sim.device("R1:eth0").qdisc.limit == 7
    assert old_sim.device("R1:eth0").qdisc.limit == 5

    builtin_clash = type("MyPfifo", (first,), {"id": "pfifo"})
    with pytest.raises(KernelError, match="already registered"):
        register_extension(builtin_clash)  # a built-in is never replaced


def test_results_are_collected_without_the_cyclic_collector_which_comes_back_after():
    import gc

    from qdisclab.scenario.simulation import without_collector

    sim = Simulation(load_builtin("udp-dumbbell", {"run.duration": "100ms"}))
    collect = sim._collect
    during = []

    def observed():
        during.append(gc.isenabled())
        return collect()

    sim._collect = observed  # the results of the finished event loop
    was = gc.isenabled()
    try:
        gc.enable()
        res = sim.run()
        assert during == [False] and gc.isenabled() and res["events"] > 0
        gc.disable()
        with without_collector():
            pass
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        (gc.enable if was else gc.disable)()


def test_results_make_their_tcp_series_on_first_use_without_keeping_the_world():
    import gc
    import weakref

    sim = Simulation(load_builtin("bufferbloat-fq_codel", {"run.duration": "300ms"}))
    res = sim.run()
    world = weakref.ref(sim.world)
    del sim
    gc.collect()
    assert world() is None  # a notebook keeping many results keeps no worlds
    rows = res.series
    assert rows and rows is res.series and {r[0] for r in rows} == {"S->D"}
    assert sum(r[2] for r in rows) > 0  # goodput was recorded
