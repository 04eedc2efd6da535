"""Turning a validated scenario into a running ``World``, running it, collecting results.

>>> from qdisclab.scenario.library import load_builtin
>>> res = run_loaded(load_builtin("udp-dumbbell", overrides={"run.duration": "200ms"}))
>>> len(res["flows"])
4
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qdisclab.errors import UserError
from qdisclab.measure.window import WindowTotals
from qdisclab.net import World
from qdisclab.scenario.loader import Loaded, ScenarioError
from qdisclab.scenario.registry import (
    FEATURES,
    ROLE_DATA,
    ROLES,
    TRAFFIC,
    load_kinds,
    missing,
)
from qdisclab.units import parse_size, parse_time

Progress = Callable[[int, int], None]  # (now ns, duration ns)


class BuildContext:
    """What traffic and feature builders get: the world, helpers, and error reporting."""

    def __init__(self, loaded: Loaded, world: World) -> None:
        self.loaded = loaded
        self.world = world
        self.duration_ns = loaded.scenario.run.duration_ns
        self.window = window_of(loaded, self.duration_ns)
        # Exact per-window totals: every flow's delivered bytes, plus what builders add.
        self.totals = WindowTotals(world.sched, self.window)
        self.totals.watch(lambda: {n: b.delivered_bytes for n, b in world.flows.items()})
        self.base_dir = loaded.base_dir
        self.sinks: dict[tuple[str, int], Any] = {}
        self.objects: list[Any] = []  # sources, probes, endpoints (for summaries)
        self.roles: dict[str, str] = {}  # flow name -> ROLE_DATA / ROLE_PROBE
        self.building_role = ROLE_DATA  # the role of the flow being built (flow_name records it)
        self.error = loaded.error

    def udp_sink(self, node: str, port: int) -> Any:
        from qdisclab.traffic import UdpSink

        key = (node, port)
        if key not in self.sinks:
            self.sinks[key] = UdpSink(self.world.node(node), port)
        return self.sinks[key]

    def flow_name(self, spec: Any, index: int) -> str:
        name = spec.name or f"{spec.src}->{spec.dst}"
        if name in self.world.flows:
            name = f"{name}#{index}"
        self.roles[name] = self.building_role
        return name

    def device(self, ref: str) -> Any:
        node, _, dev = ref.partition(":")
        try:
            return self.world.node(node).devices[dev]
        except KeyError:
            raise UserError(f"no device {ref!r}") from None


def build(loaded: Loaded, seed: int | None = None, policy: str = "strict") -> BuildContext:
    """Create the world of ``loaded`` (nodes, links, qdiscs, filters, features, traffic).

    A user error found only while building still names the scenario file.
    """
    try:
        return _build(loaded, seed, policy)
    except ScenarioError:
        raise
    except UserError as exc:
        raise ScenarioError(f"{loaded.source}: {exc}") from None


def _build(loaded: Loaded, seed: int | None, policy: str) -> BuildContext:
    load_kinds()
    s = loaded.scenario
    world = World(seed=s.run.seed if seed is None else seed, policy=policy)
    world.queue_memory.limit = parse_size(s.run.queue_memory)
    ctx = BuildContext(loaded, world)
    for node in s.node:
        (world.add_router if node.kind == "router" else world.add_host)(node.name)
    default_roots: set[Any] = set()  # devices whose root qdisc the scenario left unnamed
    for i, link in enumerate(s.link):
        try:
            lk = world.connect(world.node(link.a), world.node(link.b), link.rate, link.delay,
                               jitter=link.jitter, loss=link.loss, qdisc_a=link.qdisc_a,
                               qdisc_b=link.qdisc_b, mtu=link.mtu, tx_queue_len=link.txqueuelen,
                               rate_b=link.rate_b, name=link.name)  # fmt: skip
        except UserError as exc:  # a qdisc's init refused its options
            kind_a, kind_b = ((spec.split() or [""])[0] for spec in (link.qdisc_a, link.qdisc_b))
            side = ("qdisc_b" if str(exc).startswith(f"qdisc {kind_b}:")
                    and not str(exc).startswith(f"qdisc {kind_a}:") else "qdisc_a")  # fmt: skip
            raise loaded.error(("link", i, side), getattr(link, side), "", str(exc)) from None
        default_roots.update(d for k, d in (("qdisc_a", lk.a), ("qdisc_b", lk.b))
                             if k not in link.model_fields_set)  # fmt: skip
        for j, flt in enumerate(link.filter):
            _add_filter(ctx, lk.a if flt.side == "a" else lk.b, flt, ("link", i, "filter", j))
    for i, node in enumerate(s.node):
        if node.tc:
            _apply_tc(ctx, node.name, node.tc, ("node", i, "tc"), default_roots)
    for feature in ("netkit", "tcx"):
        for i, spec in enumerate(getattr(s, feature)):
            why = missing(feature)
            if why:
                raise loaded.error((feature, i), feature, "", why)
            ctx.objects.append(FEATURES[feature](ctx, spec, i))
    world.build_routes()
    jitter = s.run.start_jitter_ns
    for i, flow in enumerate(s.flow):
        why = missing(flow.type)
        if why:
            raise loaded.error(("flow", i, "type"), flow.type, "", why)
        if jitter:  # a seeded offset in [0, jitter): seeds differ as real runs do
            offset = int(world.rng.stream(f"start-jitter:{i}").random() * jitter)
            flow = flow.model_copy(update={"start": f"{parse_time(flow.start) + offset}ns"})
        ctx.building_role = ROLES.get(flow.type, ROLE_DATA)
        ctx.objects.append(TRAFFIC[flow.type](ctx, flow, i))
    return ctx


def _apply_tc(
    ctx: BuildContext, name: str, lines: list[str], loc: tuple[Any, ...], defaults: set[Any]
) -> None:
    """A node's ``tc = [...]``: each line through ``qdisclab tc``'s parser, stopping at an error.

    A root the scenario did not name is the kernel's default one (handle 0), so a
    script's ``qdisc add dev eth0 root handle 1: ...`` works as on a fresh host.
    """
    from qdisclab.net.tc import TcHost
    from qdisclab.sched import create_qdisc
    from qdisclab.sched.handle import requested_handle

    node = ctx.world.node(name)
    for dev in node.devices.values():
        if dev in defaults:
            with requested_handle(0):
                dev.set_qdisc(create_qdisc(dev.qdisc.spec, dev))
    host = TcHost(ctx.world, node)
    loaded = ctx.loaded
    for j, line in enumerate(lines):
        result = host.run(line)
        if result.exit:
            from qdisclab.scenario.loader import find_line, fmt_loc

            why = (result.stderr.strip().splitlines() or [""])[0]
            # The file line of this list element: the first one at or after the key that holds it.
            first = find_line(loaded.index, loc)
            rows = loaded.text.splitlines()
            at = next((k + 1 for k in range(first - 1, len(rows)) if line in rows[k]), first)
            raise ScenarioError(f"{loaded.source}:{at}: {fmt_loc((*loc, j))}: found {line!r}: "
                                f"node {name}: tc exited {result.exit}: {why}")  # fmt: skip


def _add_filter(ctx: BuildContext, dev: Any, flt: Any, loc: tuple[Any, ...]) -> None:
    from qdisclab.net import parse_prefix
    from qdisclab.scenario.extensions import load_object
    from qdisclab.sched import TcFilter, parse_handle

    match: dict[str, Any] = {}
    for key, value in flt.match.items():
        if key in ("src", "dst") and isinstance(value, str):
            match[key] = parse_prefix(value)
        else:
            match[key] = int(value)
    program = None
    if flt.program:
        try:
            program = load_object(flt.program, ctx.base_dir, program=True)
        except UserError as exc:
            raise ctx.error((*loc, "program"), flt.program, "", str(exc)) from None
    classid = parse_handle(flt.classid)
    handles = {q.handle >> 16 for q in dev.qdisc.walk() if q.handle}
    if classid >> 16 not in handles:  # tc's classids name qdisc handles: 1:10 is qdisc 1:'s
        have = ", ".join(f"{h:x}:" for h in sorted(handles)) or "none"
        raise ctx.error(
            (*loc, "classid"),
            flt.classid,
            "",
            f"no qdisc {classid >> 16:x}: on "
            f"{dev.node.name}/{dev.name} (its qdiscs: {have}); give the qdisc that "
            'handle with the node\'s tc = ["qdisc add dev ... root handle 1: ..."]',
        )
    dev.qdisc.filters.add(TcFilter(prio=flt.prio, classid=classid,
                                   match=match, program=program))  # fmt: skip


def window_of(loaded: Loaded, duration: int) -> tuple[int, int]:
    w = loaded.scenario.run.window
    if w is None:
        return duration // 2, duration
    start, end = parse_time(w[0]), parse_time(w[1])
    if end > duration:  # a shortened run keeps the window's proportions
        scale = duration / end
        start, end = int(start * scale), duration
    return start, end


def run_loaded(
    loaded: Loaded,
    seed: int | None = None,
    policy: str = "strict",
    progress: Progress | None = None,
    out_dir: str | Path | None = None,
    plots: bool | None = None,
) -> dict[str, Any]:
    """Build, run and collect; with ``out_dir``, also write pcaps, traces and plots there."""
    from qdisclab.scenario.simulation import Simulation

    sim = Simulation(loaded, seed=seed, policy=policy, out_dir=out_dir, plots=plots)
    return sim.run(progress=progress)


def summarize(results: dict[str, Any]) -> dict[str, float | None]:
    """Flat metrics for sweeps and reports (one number each)."""
    from qdisclab.measure import jain_index

    tputs = [f["throughput_mbps"] for f in results["flows"]
             if f.get("role") == ROLE_DATA and f.get("throughput_mbps") is not None]  # fmt: skip
    out: dict[str, float | None] = {
        "throughput_mbps_total": round(sum(tputs), 6) if tputs else None,
        "jain": round(jain_index(tputs), 6) if tputs else None,
    }
    p50s = [f["delay_ms"]["p50"] for f in results["flows"]
            if f.get("delay_ms") and f["delay_ms"].get("p50") is not None]  # fmt: skip
    out["delay_p50_ms_mean"] = round(sum(p50s) / len(p50s), 6) if p50s else None
    drops = sum(sum(f["dropped"].values()) for f in results["flows"])
    sent = sum(f["sent_packets"] for f in results["flows"])
    out["drop_ratio"] = round(drops / sent, 6) if sent else None
    for probe in results.get("probes", []):
        if "rtt_ms" in probe:
            out[f"{probe['probe']}.rtt_p50_ms"] = probe["rtt_ms"]["p50"]
    tcp = results.get("tcp", [])
    if tcp:
        rtts = [f["rtt_ms"]["p50"] for f in tcp if f["rtt_ms"]["p50"] is not None]
        out["tcp_rtt_p50_ms_mean"] = round(sum(rtts) / len(rtts), 6) if rtts else None
        out["tcp_retrans"] = sum(f["retrans"] for f in tcp)
        fcts = [f["fct_ms"] for f in tcp if f.get("fct_ms") is not None]
        if fcts:
            out["fct_ms_mean"] = round(sum(fcts) / len(fcts), 6)
    for key, value in results.get("extra_metrics", {}).items():
        out[key] = value
    return out
