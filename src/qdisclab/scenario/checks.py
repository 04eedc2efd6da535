"""Semantic checks after schema validation: references, qdisc specs, user classes.

Each failure is raised through ``Loaded.error`` so it names file, line and field.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

from qdisclab.errors import QdiscLabError


def _msg(exc: Exception) -> str:
    return str(exc)


def device_names(s: Any) -> dict[str, list[str]]:
    """Node -> its device names in creation order (``eth0``, ``eth1``... by link order)."""
    devs: dict[str, list[str]] = {n.name: [] for n in s.node}
    for link in s.link:
        for end in (link.a, link.b):
            if end in devs:
                devs[end].append(f"eth{len(devs[end])}")
    return devs


# The widths of the flow keys a classic filter compares (the kernel's flow dissector and
# skb fields): ports and tc_index are u16, the protocol u8, mark and priority u32.
_MATCH_MAX = {"sport": 0xFFFF, "dport": 0xFFFF, "tc_index": 0xFFFF, "protocol": 0xFF,
              "mark": 0xFFFFFFFF, "priority": 0xFFFFFFFF, "src": 0xFFFFFFFF, "dst": 0xFFFFFFFF}  # fmt: skip


def _match_problem(key: str, value: Any) -> str:
    """What is wrong with one filter match value ("" when it is fine)."""
    if key in ("src", "dst") and isinstance(value, str):
        from qdisclab.net import parse_prefix

        try:
            parse_prefix(value)
        except QdiscLabError:
            return "an IPv4 address or prefix, e.g. '10.1.0.0/16'"
        return ""
    if isinstance(value, str) and len(value) <= 20 and value.isascii() and value.isdigit():
        value = int(value)  # "80" is read as 80 when the filter is built
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MATCH_MAX[key]:
        extra = " or an IPv4 prefix string" if key in ("src", "dst") else ""
        return f"an integer 0..{_MATCH_MAX[key]}{extra}"
    return ""


def check(loaded: Any) -> None:
    from qdisclab.scenario.bpf_specs import resolve_qdisc_spec
    from qdisclab.scenario.extensions import load_object, register_extension
    from qdisclab.sched import lookup_qdisc

    s = loaded.scenario
    err = loaded.error
    names: dict[str, None] = {}  # ordered for the messages, hashed for the many lookups
    for i, node in enumerate(s.node):
        if node.name in names:
            raise err(("node", i, "name"), node.name, "a name not used by another node")
        names[node.name] = None
    if not names:  # an empty file, or one with only [run]: there is nothing to simulate
        raise err(("node",), [], "", "no [[node]] defined; a scenario needs nodes to run "
                  "(see qdisclab show-scenario udp-dumbbell)")  # fmt: skip
    allowed_nodes = ", ".join(names)
    checked_specs: set[str] = set()  # qdisc specs already parsed (links repeat a few)
    # User classes first: a qdisc they register may be named by a link.
    for i, ext in enumerate(s.extension):
        try:
            register_extension(load_object(ext.path, loaded.base_dir))
        except QdiscLabError as exc:
            raise err(("extension", i, "class"), ext.path, "", _msg(exc)) from None
    for i, link in enumerate(s.link):
        for end in ("a", "b"):
            if getattr(link, end) not in names:
                raise err(("link", i, end), getattr(link, end), allowed_nodes)
        if link.a == link.b:
            raise err(("link", i, "b"), link.b, "a node other than a")
        for key in ("qdisc_a", "qdisc_b"):
            spec = getattr(link, key)
            if spec in checked_specs:  # the same text resolves and parses the same way
                continue
            try:
                # A compiled BPF qdisc registers its kind; the link then names that kind.
                resolved = resolve_qdisc_spec(spec, loaded.base_dir)
                if resolved != spec:  # assigning marks the key as set: a default root stays one
                    setattr(link, key, resolved)
                tokens = shlex.split(getattr(link, key))
                if not tokens:
                    raise ValueError("empty qdisc spec")
                ops = lookup_qdisc(tokens[0])
            except (QdiscLabError, ValueError) as exc:
                raise err(("link", i, key), spec, "", _msg(exc)) from None
            try:
                ops.parse_options(tokens[1:])
            except (QdiscLabError, ValueError) as exc:
                raise err(("link", i, key), spec, "", _msg(exc)) from None
            except Exception as exc:
                if ops.__module__.startswith("qdisclab."):
                    raise  # a bug in a built-in qdisc, not bad input
                module = sys.modules.get(ops.__module__)
                where = f"{getattr(module, '__file__', ops.__module__)}:{ops.__qualname__}.parse_options"
                raise err(("link", i, key), spec, "",
                          f"{where} raised {type(exc).__name__}: {exc}") from None  # fmt: skip
            if getattr(link, key) == spec:  # a BPF spec resolved to a kind: check it each time
                checked_specs.add(spec)
        for j, flt in enumerate(link.filter):
            from qdisclab.sched import parse_handle
            from qdisclab.sched.filters import MATCH_FIELDS

            try:
                parse_handle(flt.classid)
            except QdiscLabError as exc:
                raise err(("link", i, "filter", j, "classid"), flt.classid, "", _msg(exc)) from None
            for key, value in flt.match.items():
                if key not in MATCH_FIELDS:
                    raise err(("link", i, "filter", j, "match"), key, ", ".join(MATCH_FIELDS))
                problem = _match_problem(key, value)
                if problem:
                    raise err(("link", i, "filter", j, "match", key), value, problem)
    devs = device_names(s)
    for i, flow in enumerate(s.flow):
        for end in ("src", "dst"):
            if getattr(flow, end) not in names:
                raise err(("flow", i, end), getattr(flow, end), allowed_nodes)
        from qdisclab.scenario.registry import CHECKS, TRAFFIC, load_kinds

        load_kinds()
        if flow.type not in TRAFFIC:
            raise err(("flow", i, "type"), flow.type, ", ".join(sorted(TRAFFIC)))
        if flow.type in CHECKS:
            CHECKS[flow.type](loaded, flow, i)
    record = s.run.record
    for key in ("pcap", "traces"):
        for j, ref in enumerate(getattr(record, key)):
            node, _, dev = ref.partition(":")
            if node not in devs or dev not in devs[node]:
                allowed = ", ".join(f"{n}:{d}" for n, ds in devs.items() for d in ds)
                raise err(("run", "record", key), ref, allowed or "(no devices)")
            del j
    for i, tcx in enumerate(s.tcx):
        node, _, dev = tcx.dev.partition(":")
        if node not in names:
            raise err(("tcx", i, "dev"), tcx.dev, "NODE:DEV with NODE one of " + allowed_nodes)
    for i, nk in enumerate(s.netkit):
        for end in ("a", "b"):
            if getattr(nk, end) not in names:
                raise err(("netkit", i, end), getattr(nk, end), allowed_nodes)
    check_packet_budget(loaded)


def check_packet_budget(loaded: Any) -> None:
    """Refuse a run whose rate-driven sources would make more than ``run.packet_budget`` packets.

    Counted before the run from the scenario alone: UDP flows (rate x active time / size),
    ping probes and trace samples (active time / interval). The field whose value pushes
    the total past the budget is named, so an absurd rate or a 1 ns interval is an error
    while loading instead of a run that never ends.
    """
    from qdisclab.units import parse_rate, parse_size, parse_time

    s = loaded.scenario
    duration = s.run.duration_ns
    budget = s.run.packet_budget
    total = 0

    def spend(
        count: int, loc: tuple[Any, ...], found: Any, what: str, unit: str = "packets"
    ) -> None:
        nonlocal total
        total += count
        if total > budget:
            raise loaded.error(loc, found, "", f"{what} makes ~{count:,} {unit} in "
                               f"{s.run.duration}, past the run's packet_budget of {budget:,} "
                               "(raise run.packet_budget or lower the rate)")  # fmt: skip

    fastest: dict[str, int] = {}  # node -> its fastest link's rate in its sending direction
    for link in s.link:
        for node, rate in ((link.a, link.rate), (link.b, link.rate_b or link.rate)):
            fastest[node] = max(fastest.get(node, 0), parse_rate(rate))
    interval = parse_time(s.run.record.trace_interval)
    for _ in s.run.record.traces:
        spend(duration // interval, ("run", "record", "trace_interval"),
              s.run.record.trace_interval, "each trace", "samples")  # fmt: skip
    for i, flow in enumerate(s.flow):
        start = parse_time(flow.start)
        stop = min(duration, parse_time(flow.stop)) if flow.stop is not None else duration
        active = max(0, stop - start)
        if flow.type == "ping":
            period = flow.interval or "100ms"
            spend(active // parse_time(period), ("flow", i, "interval"), period, "this probe")
        elif flow.type.startswith("udp-") and flow.rate is not None:
            bits = parse_size(flow.size) * 8
            spend(parse_rate(flow.rate) * active // (bits * 10**9), ("flow", i, "rate"),
                  flow.rate, "this flow")  # fmt: skip
        elif flow.type.startswith("tcp-"):
            # ACK-clocked: never faster than the sender's fastest link, plus an ACK per two
            segment_bits = ((flow.mss or 1448) + 52) * 8
            spend(fastest.get(flow.src, 0) * active * 3 // (2 * segment_bits * 10**9),
                  ("flow", i, "type"), flow.type, "this TCP flow, at its link's rate,")  # fmt: skip
