"""UDP traffic types (udp-cbr, udp-poisson, udp-onoff), the ping probe, and qdisc extensions."""

from __future__ import annotations

from array import array
from typing import Any

from qdisclab.errors import UserError
from qdisclab.measure import FlowMetrics, percentile
from qdisclab.scenario.registry import (
    ROLE_PROBE,
    register_extension_kind,
    register_or_replace,
    register_traffic,
)
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume
from qdisclab.traffic import CbrSource, OnOffSource, PoissonSource
from qdisclab.traffic.udp import UdpStack
from qdisclab.units import parse_size, parse_time

UDP_PORT = 5001
ECHO_PORT = 7


def _udp(cls: Any, ctx: Any, spec: Any, index: int, **extra: Any) -> Any:
    if spec.rate is None:
        raise ctx.error(("flow", index, "rate"), None, f"a rate for {spec.type}, e.g. '10mbit'")
    dport = spec.dport or UDP_PORT
    ctx.udp_sink(spec.dst, dport)
    dst = ctx.world.node(spec.dst)
    return cls(ctx.world.node(spec.src), dst.addr, dport, ctx.flow_name(spec, index),
               rate=spec.rate, size=parse_size(spec.size), start=spec.start,
               stop=spec.stop if spec.stop is not None else ctx.duration_ns, **extra)  # fmt: skip


def udp_cbr(ctx: Any, spec: Any, index: int) -> Any:
    return _udp(CbrSource, ctx, spec, index)


def udp_poisson(ctx: Any, spec: Any, index: int) -> Any:
    return _udp(PoissonSource, ctx, spec, index)


def udp_onoff(ctx: Any, spec: Any, index: int) -> Any:
    return _udp(OnOffSource, ctx, spec, index, on=spec.on or "1s", off=spec.off or "1s")


class EchoServer:
    """Port 7 of a node: answers each request with a reply stamped with the request's send time."""

    __slots__ = ("node", "sched", "world")

    def __init__(self, node: Any) -> None:
        self.node = node
        self.world = node.world
        self.sched = node.sched
        UdpStack.of(node).bind(ECHO_PORT, self)

    def receive(self, skb: SkBuff) -> None:
        now = self.sched.now
        observer = skb.flow.observer
        if observer is not None:
            observer.on_deliver(skb, now)
        probe = skb.sk
        reply = SkBuff(skb.len, skb.dst, skb.src, ECHO_PORT, skb.sport, IPPROTO_UDP, skb.created,
                       probe.reply_books, probe)  # fmt: skip
        skb_consume(skb)
        probe.reply_books.book_sent(reply)
        self.node.output(reply)


class PingProbe:
    """Sends one echo request every ``interval``; records the RTT of each reply (ns)."""

    __slots__ = ("books", "dst", "interval", "name", "node", "reply_books", "rtt_times", "rtts",
                 "sched", "size", "sport", "stop", "window")  # fmt: skip

    def __init__(self, node: Any, dst: int, name: str, *, interval: int, size: int, start: int,
                 stop: int, sport: int, window: tuple[int, int] | None = None) -> None:  # fmt: skip
        self.node = node
        self.sched = node.sched
        self.dst = dst
        self.name = name
        self.interval = interval
        self.size = size
        self.stop = stop
        self.sport = sport
        self.rtts = array("q")
        self.rtt_times = array("q")  # when each reply arrived
        self.window = window
        self.books = node.world.flow_books(name, FlowMetrics(name))
        self.reply_books = node.world.flow_books(f"{name}:reply", None)
        UdpStack.of(node).bind(sport, self)
        self.sched.call_at(start, self._send, None)

    def _send(self, _arg: object) -> None:
        now = self.sched.now
        if now >= self.stop:
            return
        skb = SkBuff(self.size, self.node.addr, self.dst, self.sport, ECHO_PORT, IPPROTO_UDP, now,
                     self.books, self)  # fmt: skip
        self.books.book_sent(skb)
        self.node.output(skb)
        self.sched.call_at(now + self.interval, self._send, None)

    def receive(self, skb: SkBuff) -> None:
        now = self.sched.now
        self.rtts.append(now - skb.created)
        self.rtt_times.append(now)
        skb_consume(skb)

    def summary(self) -> dict[str, Any]:
        """RTT percentiles of replies received inside the window (``rtt_ms``) and in the
        whole run (``rtt_ms_run``)."""
        run = sorted(self.rtts)
        if self.window is None:
            inside = run
        else:
            start, end = self.window
            inside = sorted(r for t, r in zip(self.rtt_times, self.rtts, strict=True)
                            if start <= t < end)  # fmt: skip
        return {
            "probe": self.name,
            "samples": len(inside),
            "rtt_ms": _rtt_percentiles(inside),
            "samples_run": len(run),
            "rtt_ms_run": _rtt_percentiles(run),
        }


def _rtt_percentiles(values: list[int]) -> dict[str, float | None]:
    return {f"p{q}": (None if not values else percentile(values, q) / 1e6) for q in (50, 90, 99)}


def ping(ctx: Any, spec: Any, index: int) -> PingProbe:
    node = ctx.world.node(spec.src)
    dst = ctx.world.node(spec.dst)
    if ECHO_PORT not in UdpStack.of(dst).ports:
        EchoServer(dst)
    size = parse_size(spec.size) if "size" in spec.model_fields_set else 84
    if not 28 <= size <= 65535:
        raise UserError(f"ping {spec.src}->{spec.dst}: size {size} must be 28..65535 bytes")
    return PingProbe(node, dst.addr, ctx.flow_name(spec, index),
                     interval=parse_time(spec.interval or "100ms"), size=size,
                     start=parse_time(spec.start),
                     stop=parse_time(spec.stop) if spec.stop is not None else ctx.duration_ns,
                     sport=20000 + index, window=ctx.window)  # fmt: skip


register_traffic("udp-cbr", udp_cbr)
register_traffic("udp-poisson", udp_poisson)
register_traffic("udp-onoff", udp_onoff)
register_traffic("ping", ping, role=ROLE_PROBE)


def _is_qdisc(cls: type) -> bool:
    from qdisclab.sched import QdiscOps

    return issubclass(cls, QdiscOps)


def _register_qdisc(cls: type) -> None:
    from qdisclab.sched import QDISC_OPS, register_qdisc

    existing = QDISC_OPS.lookup(cls.id) if cls.id else None
    register_or_replace(existing, cls, register_qdisc, lambda c: QDISC_OPS.update(c.id, c))


register_extension_kind(_is_qdisc, _register_qdisc, "qdisc (QdiscOps)")
