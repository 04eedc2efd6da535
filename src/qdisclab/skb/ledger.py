"""Packet books: every packet is created, then delivered or dropped, exactly once.

A ``FlowBooks`` holds one flow's counts; a ``Ledger`` is the world's set of
flows, and its totals are the sums over them, computed when read (a report,
the conservation check), so a packet is booked once, on its flow, and never
a second time on the world. The two functions ``skb_consume`` (delivered) and
``skb_drop`` (dropped, with a reason) are the only places a packet's life
ends, so the conservation check — sent = delivered + dropped + in flight —
can be made against an independent count of packets still held anywhere.

Drop reasons are short strings so new layers can add their own; the common
ones are constants here.

>>> ledger = Ledger()
>>> books = FlowBooks("f1", ledger)
>>> skb = SkBuff(100, 1, 2, 3, 4, 17, created=0, flow=books)
>>> books.book_sent(skb); skb_drop(skb, DROP_QDISC)
>>> books.sent_packets, ledger.sent, ledger.dropped
(1, 1, {'qdisc': 1})
"""

from __future__ import annotations

from typing import Protocol

from qdisclab.skb.skbuff import SkBuff

DROP_QDISC = "qdisc"  # a qdisc dropped it (limit, AQM, policy)
DROP_LINK_LOSS = "link_loss"  # random loss on a link
DROP_NO_ROUTE = "no_route"
DROP_TTL = "ttl_expired"
DROP_NO_SOCKET = "no_socket"  # delivered to a host with nothing listening
DROP_TCX = "tcx_drop"  # a tc program returned TCX_DROP
DROP_FAULT = "fault"  # held by a faulty extension that was contained
DROP_DEVICE_DOWN = "device_down"
DROP_RESET = "qdisc_reset"  # purged by a qdisc reset/destroy
DROP_MTU = "mtu"  # larger than the device MTU


class FlowObserver(Protocol):
    """A flow's measurements (the metrics layer): told of each packet delivered or dropped.

    The drop path calls ``on_drop``; a sink that delivers a packet calls ``on_deliver``.
    """

    def on_deliver(self, skb: SkBuff, now: int) -> None: ...

    def on_drop(self, skb: SkBuff, reason: str, now: int) -> None: ...


class Ledger:
    """World-wide packet totals: the sums over the flows booked on it."""

    __slots__ = ("flows",)

    def __init__(self) -> None:
        self.flows: list[FlowBooks] = []  # every FlowBooks created on this ledger

    @property
    def sent(self) -> int:
        return sum(books.sent_packets for books in self.flows)

    @property
    def sent_bytes(self) -> int:
        return sum(books.sent_bytes for books in self.flows)

    @property
    def delivered(self) -> int:
        return sum(books.delivered_packets for books in self.flows)

    @property
    def delivered_bytes(self) -> int:
        return sum(books.delivered_bytes for books in self.flows)

    @property
    def dropped(self) -> dict[str, int]:
        """Drops by reason, over every flow (reasons in the order they first occurred)."""
        total: dict[str, int] = {}
        for books in self.flows:
            for reason, count in books.dropped.items():
                total[reason] = total.get(reason, 0) + count
        return total

    @property
    def dropped_total(self) -> int:
        return sum(sum(books.dropped.values()) for books in self.flows)


class FlowBooks:
    """One flow's packet counts; every ``SkBuff.flow`` points at one of these."""

    __slots__ = (
        "delivered_bytes",
        "delivered_packets",
        "dropped",
        "ledger",
        "name",
        "observer",
        "sent_bytes",
        "sent_packets",
    )

    def __init__(self, name: str, ledger: Ledger, observer: FlowObserver | None = None) -> None:
        self.name = name
        self.ledger = ledger
        self.sent_packets = 0
        self.sent_bytes = 0
        self.delivered_packets = 0
        self.delivered_bytes = 0
        self.dropped: dict[str, int] = {}
        self.observer = observer
        ledger.flows.append(self)

    def book_sent(self, skb: SkBuff) -> None:
        """Record a new packet entering the network."""
        self.sent_packets += 1
        self.sent_bytes += skb.len


def skb_consume(skb: SkBuff) -> None:
    """End a packet's life as delivered (``consume_skb``)."""
    books = skb.flow
    assert books is not None, "a packet ends its life on the books it was sent on"
    books.delivered_packets += 1
    books.delivered_bytes += skb.len
    skb.owner = FREED


def skb_drop(skb: SkBuff, reason: str, now: int = 0) -> None:
    """End a packet's life as dropped for ``reason`` (``kfree_skb_reason``)."""
    books = skb.flow
    assert books is not None, "a packet ends its life on the books it was sent on"
    dropped = books.dropped
    dropped[reason] = dropped.get(reason, 0) + 1
    skb.owner = FREED
    observer = books.observer
    if observer is not None:
        observer.on_drop(skb, reason, now)


class _Freed:
    """Owner marker of a packet whose life has ended."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "freed"


FREED: _Freed = _Freed()
