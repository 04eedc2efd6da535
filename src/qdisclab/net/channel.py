"""``Channel``: one direction of a link, and the packets on it.

A channel has a rate (serialisation), a propagation delay, and optionally
jitter and random loss. Packets on a wire arrive in the order they were sent
(jitter never reorders), so the wire keeps them in a ``line``, a FIFO of
their arrival entries, and only the head's entry sits in the scheduler's heap:
when it arrives, the next one's entry goes in. The heap then holds one entry
per busy wire instead of one per packet in flight, and every push and pop
compares fewer entries. Each entry keeps the sequence number it was made with,
so events run in exactly the order they would if all were in the heap (a
line's later entries all sort after its head).

>>> from qdisclab.sim import Scheduler
>>> from qdisclab.skb import IPPROTO_UDP, SkBuff
>>> sched = Scheduler(); seen = []
>>> wire = Channel(8_000_000, 1_000)
>>> wire.attach(sched, lambda skb: seen.append((sched.now, skb.sport)))
>>> for when in (10, 20, 30):
...     wire.send(when, SkBuff(100, 1, 2, when, 9, IPPROTO_UDP, created=0))
>>> len(sched.heap), len(wire.line)
(1, 3)
>>> sched.run(); seen, sched.events
([(10, 10), (20, 20), (30, 30)], 3)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from random import Random
from typing import TYPE_CHECKING, cast

from qdisclab.errors import UserError
from qdisclab.sim.scheduler import Callback, Event, Line, next_seq, push_entry, replace_entry
from qdisclab.skb import DROP_LINK_LOSS, SkBuff, skb_drop

if TYPE_CHECKING:
    from qdisclab.net.device import DeviceScheduler, NetDevice


class Channel:
    """One direction of a link: rate, propagation delay, jitter, random loss.

    ``rate`` and ``delay`` are fixed when the channel is made: the line relies
    on arrivals in sending order, which a slower rate or a shorter delay would
    break, so setting either raises a ``UserError`` (shape a link's rate or
    delay with a qdisc, tbf or netem, instead). ``loss`` and ``jitter`` may change.
    The transmit paths read the fixed values from ``rate_bps`` and ``delay_ns``.

    >>> wire = Channel(100_000_000, 10_000)
    >>> wire.rate, wire.delay, wire.ns_per_byte
    (100000000, 10000, 80)
    >>> wire.delay = 5
    Traceback (most recent call last):
    ...
    qdisclab.errors.UserError: a link's delay is fixed when it is made (found an attempt to set it to 5); add netem delay on a device instead
    """

    __slots__ = (
        "_jitter",
        "_loss",
        "arrive_cb",
        "delay_ns",
        "heap",
        "impaired",
        "last_arrival",
        "line",
        "lost_bytes",
        "lost_packets",
        "ns_per_byte",
        "on_impaired_change",
        "rate_bps",
        "receive",
        "rng",
        "rng_stream",
        "sender",
        "sent_bytes",
        "sent_packets",
    )

    # Set by ``attach`` when a device is wired to its next hop.
    heap: list[Event]  # the scheduler's heap, where the line's head waits
    receive: Callable[[SkBuff], None]  # the next hop's receive
    arrive_cb: Callback  # self.arrive, bound once: the entries' callback (called with the skb)

    def __init__(
        self,
        rate: int,
        delay: int,
        jitter: int = 0,
        loss: float = 0.0,
        rng: Random | None = None,
        rng_stream: Callable[[], Random] | None = None,
    ) -> None:
        if rate <= 0:
            raise UserError(f"link rate must be positive (found {rate} bit/s)")
        if delay < 0 or jitter < 0:
            raise UserError("link delay and jitter must not be negative")
        if not 0.0 <= loss < 1.0:
            raise UserError(f"link loss must be in [0, 1) (found {loss})")
        self.rate_bps = rate  # fixed (see the class docstring)
        self.delay_ns = delay  # fixed
        self._jitter = jitter  # ns, uniform in [0, jitter]
        self._loss = loss
        self.impaired = bool(jitter or loss)
        # Told when ``impaired`` changes: the sending device's precomputed transmit path.
        self.on_impaired_change: Callable[[], None] | None = None
        # Draws loss and jitter: needed only when either is configured, so it may come
        # from ``rng_stream`` on first use (a named stream is the same whenever it is made).
        self.rng = rng
        self.rng_stream = rng_stream
        # Exact integer ns per byte when the rate divides 8e9 (100mbit: 80), else 0
        # and the serialisation time is computed with a division per packet.
        self.ns_per_byte = 8_000_000_000 // rate if 8_000_000_000 % rate == 0 else 0
        self.last_arrival = 0  # arrivals never overtake each other on a wire
        # The packets on the wire, in arrival order: (when, seq, arrive_cb, skb) entries.
        self.line: Line = deque()
        # The device whose transmit paths put packets on the wire (set when it is wired):
        # its tx counters, with the counts below, give the receiver's (NetDevice.rx_packets).
        self.sender: NetDevice | None = None
        self.sent_packets = 0  # put on the wire by ``send`` (the transmit paths count their own)
        self.sent_bytes = 0
        self.lost_packets = 0  # lost to random loss
        self.lost_bytes = 0

    def attach(
        self, sched: DeviceScheduler, receive: Callable[[SkBuff], None], *, takes: bool = False
    ) -> None:
        """Deliver the packets sent on this channel to ``receive``, on ``sched``'s clock.

        ``takes``: ``receive`` takes each arrival off the line itself (as ``arrive``
        does, a device's receive, to save a call per packet); else the entries
        call ``arrive``, which hands the packet on.
        """
        self.heap = sched.heap
        self.receive = receive
        self.arrive_cb = cast(Callback, receive if takes else self.arrive)
        sched.lines.append(self.line)  # so the scheduler counts the entries held here

    def send(self, arrival: int, skb: SkBuff) -> None:
        """Put ``skb`` on the wire to arrive at ``arrival`` (no earlier than the last one).

        The devices' transmit paths do the same inline.
        """
        self.sent_packets += 1
        self.sent_bytes += skb.len
        line = self.line
        entry: object = (arrival, next_seq(), self.arrive_cb, skb)  # made once (see Line)
        if not line:
            push_entry(self.heap, entry)
        line.append(entry)

    def arrive(self, skb: SkBuff) -> None:
        """The line's head has crossed the wire: the next one's entry joins the heap."""
        line = self.line
        line.popleft()
        if line:
            replace_entry(self.heap, line[0])  # in this arrival's place
        self.receive(skb)

    def impaired_arrival(self, skb: SkBuff, arrival: int, now: int) -> int:
        """Loss and jitter for one packet: when it arrives, or -1 when the wire lost it.

        Jitter never reorders: a packet arrives no earlier than the one before it
        (nor after jitter is turned off, while the jittered ones are still ahead).
        """
        rng = self.rng
        if rng is None:
            assert self.rng_stream is not None, "a lossy or jittery channel has an RNG stream"
            rng = self.rng = self.rng_stream()
        if self._loss and rng.random() < self._loss:
            self.lost_packets += 1
            self.lost_bytes += skb.len
            skb_drop(skb, DROP_LINK_LOSS, now)
            return -1
        if self._jitter:
            arrival += int(rng.random() * self._jitter)
        if arrival < self.last_arrival:
            arrival = self.last_arrival
        self.last_arrival = arrival
        return arrival

    @property
    def rate(self) -> int:
        """Serialisation rate, bit/s."""
        return self.rate_bps

    @rate.setter
    def rate(self, value: int) -> None:
        raise UserError(
            f"a link's rate is fixed when it is made (found an attempt to set it to {value});"
            " shape it with a qdisc such as tbf instead"
        )

    @property
    def delay(self) -> int:
        """Propagation delay, ns."""
        return self.delay_ns

    @delay.setter
    def delay(self, value: int) -> None:
        raise UserError(
            f"a link's delay is fixed when it is made (found an attempt to set it to {value});"
            " add netem delay on a device instead"
        )

    @property
    def loss(self) -> float:
        return self._loss

    @loss.setter
    def loss(self, value: float) -> None:
        self._loss = value
        self._update_impaired()

    @property
    def jitter(self) -> int:
        return self._jitter

    @jitter.setter
    def jitter(self, value: int) -> None:
        self._jitter = value
        self._update_impaired()

    def _update_impaired(self) -> None:
        # Once jittered, arrivals keep being held to the last one's time.
        self.impaired = bool(self._jitter or self._loss or self.last_arrival)
        if self.on_impaired_change is not None:
            self.on_impaired_change()
