"""A scenario run live: the supported subset translated to live-run parameters.

Supported: one path between two endpoints (any chain of links), ``tcp-bulk``
flows (one congestion control, started together: iperf3's parallel streams)
and at most one ``ping`` probe, all between the same endpoints, and
``[[extension]]`` qdiscs (registered when the scenario loads); no tcx or
netkit sections. The live path takes the slowest link's rate and
its qdisc in the flow's direction (the other direction's qdisc for ACKs),
the sum of the links' one-way delays, their combined loss, and the slowest
link's jitter; the measurement window's start becomes iperf3's omitted
warm-up and the probe replies ignored.

The parameters are the keyword arguments of ``qdisclab.live.LiveConfig``
(live mode sits beside this layer, so the command line joins the two);
``simulated_row`` puts a simulated run's results in a live result's keys.

>>> kw = live_parameters(load_live("bufferbloat-pfifo", duration_s=10))
>>> kw["qdisc"], kw["rate"], kw["delay"], kw["duration"], kw["warmup"], kw["ping_interval"]
('pfifo limit 100', 10000000, 11000000, 10.0, 2.0, 0.1)
"""

from __future__ import annotations

from collections import deque
from typing import Any

from qdisclab.errors import UserError
from qdisclab.scenario.build import window_of
from qdisclab.scenario.library import load_any
from qdisclab.scenario.loader import Loaded
from qdisclab.scenario.model import LinkSpec
from qdisclab.skb.flowmetrics import percentile
from qdisclab.units import parse_rate, parse_time

NSEC_PER_SEC = 1_000_000_000


def _path(loaded: Loaded, src: str, dst: str) -> list[tuple[LinkSpec, bool]]:
    """The links from ``src`` to ``dst``, each with True when crossed from its ``a`` side."""
    links = loaded.scenario.link
    came: dict[str, tuple[str, int, bool] | None] = {src: None}
    todo = deque([src])
    while todo:
        node = todo.popleft()
        for i, link in enumerate(links):
            for here, there, forward in ((link.a, link.b, True), (link.b, link.a, False)):
                if here == node and there not in came:
                    came[there] = (node, i, forward)
                    todo.append(there)
    if dst not in came:
        raise UserError(f"{loaded.source}: no path of links from {src} to {dst}")
    hops: list[tuple[LinkSpec, bool]] = []
    node = dst
    while (step := came[node]) is not None:
        node, i, forward = step
        hops.append((links[i], forward))
    return hops[::-1]


def _flows(loaded: Loaded) -> tuple[Any, Any]:
    sc = loaded.scenario
    for section in ("tcx", "netkit"):
        if getattr(sc, section):
            raise UserError(f"{loaded.source}: [[{section}]] is not supported live (supported: "
                            "links, extensions, one tcp-bulk flow, one ping probe)")  # fmt: skip
    bulk = [f for f in sc.flow if f.type == "tcp-bulk"]
    pings = [f for f in sc.flow if f.type == "ping"]
    others = [f.type for f in sc.flow if f.type not in ("tcp-bulk", "ping")]
    if others or len(pings) > 1 or not (bulk or pings):
        raise UserError(
            f"{loaded.source}: live runs support tcp-bulk flows and one ping probe "
            f"(found: {', '.join(f.type for f in sc.flow) or 'no flows'})"
        )
    ends = {(f.src, f.dst) for f in bulk + pings}
    if len(ends) > 1:
        raise UserError(f"{loaded.source}: the tcp-bulk flows and the ping must share src and dst")
    if len({(f.cc, f.start) for f in bulk}) > 1:
        raise UserError(f"{loaded.source}: live tcp-bulk flows are iperf3's parallel streams: "
                        "one cc and one start for all of them")  # fmt: skip
    return bulk, (pings[0] if pings else None)


def load_live(name: str, duration_s: int | None = None) -> Loaded:
    """Scenario ``name`` (built-in or file) with whole-second duration and window, for a live run.

    Both a simulated run of the returned scenario and its live run measure
    over the same window (iperf3 counts in whole seconds).
    """
    return load_any(name, _overrides(load_any(name), duration_s))


def live_parameters(loaded: Loaded, seed: int | None = None) -> dict[str, Any]:
    """The ``LiveConfig`` keyword arguments that run ``loaded`` live."""
    bulk, ping = _flows(loaded)
    first = bulk[0] if bulk else ping
    bottleneck, forward, hops = _bottleneck(loaded, first.src, first.dst)
    survive = 1.0
    for link, _ in hops:
        survive *= 1.0 - link.loss
    run = loaded.scenario.run
    duration = parse_time(run.duration)
    start, _end = window_of(loaded, duration)
    return {
        "qdisc": bottleneck.qdisc_a if forward else bottleneck.qdisc_b,
        "reverse_qdisc": bottleneck.qdisc_b if forward else bottleneck.qdisc_a,
        "rate": parse_rate(bottleneck.rate),
        "delay": sum(parse_time(link.delay) for link, _ in hops),
        "jitter": parse_time(bottleneck.jitter),
        "loss": round(1.0 - survive, 12),
        "duration": duration / NSEC_PER_SEC,
        "warmup": start / NSEC_PER_SEC,
        "load": "iperf3" if bulk else "none",
        "streams": max(1, len(bulk)),
        "probe": "ping" if ping else "none",
        "cc": bulk[0].cc if bulk and bulk[0].cc else "cubic",
        "ping_interval": parse_time(ping.interval or "1s") / NSEC_PER_SEC if ping else 0.1,
        "seed": run.seed if seed is None else seed,
    }


def _bottleneck(loaded: Loaded, src: str, dst: str) -> tuple[LinkSpec, bool, list]:
    """The slowest link from ``src`` to ``dst``, whether crossed a→b, and the whole path."""
    hops = _path(loaded, src, dst)
    link, forward = min(hops, key=lambda hop: parse_rate(hop[0].rate))
    return link, forward, hops


def _overrides(loaded: Loaded, duration_s: int | None) -> dict[str, Any]:
    """Whole seconds for the duration and the window start (iperf3 counts in seconds)."""
    run = loaded.scenario.run
    duration = duration_s * NSEC_PER_SEC if duration_s else parse_time(run.duration)
    seconds = max(2, round(duration / NSEC_PER_SEC))
    start = round(window_of(loaded, seconds * NSEC_PER_SEC)[0] / NSEC_PER_SEC)
    return {"run.duration": f"{seconds}s", "run.window": [f"{start}s", f"{seconds}s"]}


def simulated_row(results: dict[str, Any], loaded: Loaded) -> dict[str, Any]:
    """A simulated run's results in the live result's keys (bulk goodput, probe RTTs, qdisc).

    ``throughput_mbps`` is the bulk flows' sum (iperf3's total), ``flows`` one
    entry per bulk flow with its goodput and cwnd summary.
    """
    bulk, ping = _flows(loaded)
    first = bulk[0] if bulk else ping
    tcp = results.get("tcp") or [{}]
    probe = (results.get("probes") or [{}])[0].get("rtt_ms", {})
    bottleneck, forward, _hops = _bottleneck(loaded, first.src, first.dst)
    node = bottleneck.a if forward else bottleneck.b
    # World.connect names a node's devices eth0, eth1... in the order of its links
    dev = f"eth{[lk for lk in loaded.scenario.link if node in (lk.a, lk.b)].index(bottleneck)}"
    qdisc = next(q for q in results["qdiscs"] if q["node"] == node and q["dev"] == dev)
    start = results["window_s"][0]

    def cwnd(flow: dict[str, Any]) -> dict[str, Any]:
        series = results.get("cwnd_series", {}).get(flow.get("flow"), [])
        cwnds = sorted(c for t, c in series if t >= start)
        return {"p50": percentile(cwnds, 50) if cwnds else None,
                "max": cwnds[-1] if cwnds else None}  # fmt: skip

    goodputs = [t.get("goodput_mbps") for t in tcp]
    return {
        "mode": "simulated",
        "throughput_mbps": None if None in goodputs else round(sum(goodputs), 6),
        "ping_rtt_ms": {k: probe.get(k) for k in ("p50", "p90", "p99", "max")},
        "retransmits": None if None in (r := [t.get("retrans") for t in tcp]) else sum(r),
        "cc": tcp[0].get("cc"),
        "qdisc": qdisc,
        "cwnd": cwnd(tcp[0]),
        "flows": [{"throughput_mbps": t.get("goodput_mbps"), "cwnd": cwnd(t)} for t in tcp],
    }
