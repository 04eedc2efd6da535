"""UDP traffic sources: constant bit rate, Poisson, on/off.

Each source is one flow with its own RNG stream (``udp:<flow name>``), so
adding a source never changes another's packets. Sending times are integer
ns computed from the packet index (no drift from rounding).

>>> from qdisclab.net import World
>>> from qdisclab.traffic.udp import UdpSink
>>> w = World(seed=3); a = w.add_host("A"); b = w.add_host("B")
>>> _ = w.connect(a, b, "100mbit", "1ms"); w.build_routes()
>>> _ = UdpSink(b, 9)
>>> src = CbrSource(a, b.addr, 9, "f", rate="8mbit", size=1000, start="0s", stop="1s")
>>> w.run(); src.sent
1000
"""

from __future__ import annotations

from math import log
from typing import TYPE_CHECKING, Any, cast

from qdisclab.errors import UserError
from qdisclab.sim.scheduler import Event, next_seq, replace_entry
from qdisclab.skb import IPPROTO_UDP, SkBuff
from qdisclab.traffic.udp import UdpSocket
from qdisclab.units import parse_rate, parse_time

if TYPE_CHECKING:
    from qdisclab.net.device import DeviceScheduler
    from qdisclab.net.node import Node
    from qdisclab.skb import FlowBooks
    from qdisclab.skb.flowmetrics import FlowMetrics


#: ``_stop_at`` of a source without a stop time: later than any simulated time.
_NEVER = (1 << 62) - 1


def _ns(value: str | int) -> int:
    return parse_time(value) if isinstance(value, str) else int(value)


class UdpSource:
    """Base: a socket, a start/stop window and a packet size; subclasses pick the gaps."""

    __slots__ = (
        "_event",
        "_event_heap",
        "_send_cb",
        "_stop",
        "_stop_at",
        "dport",
        "dst",
        "rate",
        "rng",
        "sched",
        "sent",
        "size",
        "sock",
        "start",
    )

    def __init__(
        self,
        node: Node,
        dst: int,
        dport: int,
        name: str,
        *,
        rate: str | int,
        size: int = 1500,
        start: str | int = 0,
        stop: str | int | None = None,
        sport: int | None = None,
    ) -> None:
        self.rate = parse_rate(rate) if isinstance(rate, str) else int(rate)
        if self.rate <= 0:
            raise UserError(f"flow {name}: rate must be positive")
        if not 28 <= size <= 65535:
            raise UserError(f"flow {name}: packet size {size} must be between 28 and 65535 bytes")
        self.size = size
        self.dst = dst
        self.dport = dport
        self.start = _ns(start)
        self.stop = None if stop is None else _ns(stop)  # sets _stop_at too
        world = node.world
        self.sched: DeviceScheduler = node.sched
        self._event_heap = self.sched.heap  # the next send is pushed here (call_at, inlined)
        self.rng = world.rng.stream(f"udp:{name}")
        self.sock = UdpSocket(node, sport if sport is not None else 10000 + len(world.flows), name)
        self.sent = 0
        self._send_cb = self._send  # bound once: the source reschedules it per packet
        # The next send's entry (an Event, kept as made: see Line).
        self._event: object = self.sched.call_at(self.start + self.first_gap(), self._send_cb, None)

    @property
    def stop(self) -> int | None:
        """When the source stops sending (ns), or None: it never does."""
        return self._stop

    @stop.setter
    def stop(self, value: int | None) -> None:
        self._stop = value
        # One comparison per packet, with or without a stop time.
        self._stop_at = _NEVER if value is None else value

    @property
    def metrics(self) -> FlowMetrics:
        return self.sock.metrics

    @property
    def books(self) -> FlowBooks:
        return self.sock.books

    def first_gap(self) -> int:
        return 0

    def next_time(self, now: int) -> int | None:
        raise NotImplementedError

    def _send(self, _arg: object) -> None:
        now = self.sched.now
        if now >= self._stop_at:
            return
        self.sent += 1
        sock = self.sock  # UdpSocket.sendto, inlined: a call less per datagram
        size = self.size
        dst = self.dst
        books = sock.books
        skb = SkBuff(size, sock.saddr, dst, sock.sport, self.dport, IPPROTO_UDP, now, books, sock)
        books.sent_packets += 1
        books.sent_bytes += size
        try:  # Node.output, inlined for the cached route
            dev = sock.route_cache[dst]
        except KeyError:
            sock.node.output(skb)
        else:
            dev.xmit(skb)
        when = self.next_time(now)
        if when is not None:
            event: object = (when, next_seq(), self._send_cb, None)  # call_at, inlined
            replace_entry(self._event_heap, event)  # in this send's place
            self._event = event

    def cancel(self) -> None:
        self.sched.cancel(cast(Event, self._event))


class CbrSource(UdpSource):
    """Constant bit rate: packet k leaves at start + k * size * 8 / rate."""

    __slots__ = ()

    def next_time(self, now: int) -> int:
        return self.start + self.sent * self.size * 8_000_000_000 // self.rate


class PoissonSource(UdpSource):
    """Poisson arrivals with mean rate ``rate``: exponential gaps (at least 1 ns)."""

    __slots__ = ("_per_ns",)

    def first_gap(self) -> int:
        self._per_ns = self.rate / (self.size * 8e9)  # packets per ns
        return self.next_time(0)

    def next_time(self, now: int) -> int:
        # random.expovariate(self._per_ns), inlined: the same draw and arithmetic
        return now + 1 + int(-log(1.0 - self.rng.random()) / self._per_ns)


class OnOffSource(UdpSource):
    """CBR at ``rate`` during ON periods, silent during OFF; exponential period lengths."""

    __slots__ = ("_on_until", "mean_off", "mean_on")

    def __init__(
        self, *args: Any, on: str | int = "1s", off: str | int = "1s", **kwargs: Any
    ) -> None:
        self.mean_on = _ns(on)
        self.mean_off = _ns(off)
        if self.mean_on <= 0 or self.mean_off < 0:
            raise UserError("on/off source: 'on' must be positive and 'off' not negative")
        self._on_until = 0
        super().__init__(*args, **kwargs)
        self._on_until = self.start + self._period(self.mean_on)

    def _period(self, mean: int) -> int:
        return max(1, int(self.rng.expovariate(1.0 / mean))) if mean else 0

    def next_time(self, now: int) -> int:
        when = now + self.size * 8_000_000_000 // self.rate
        if when >= self._on_until:
            off = self._period(self.mean_off)
            when = self._on_until + off
            self._on_until = when + self._period(self.mean_on)
        return when
