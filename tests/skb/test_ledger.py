"""The packet books: world totals are the sums over the flows booked on the world."""

from __future__ import annotations

import pytest

from qdisclab.skb import (
    DROP_LINK_LOSS,
    DROP_QDISC,
    FlowBooks,
    Ledger,
    SkBuff,
    skb_consume,
    skb_drop,
)


def _packet(books: FlowBooks, length: int) -> SkBuff:
    skb = SkBuff(length, 1, 2, 3, 4, 17, created=0, flow=books)
    books.book_sent(skb)
    return skb


def test_world_totals_are_the_sums_of_its_flows_by_reason() -> None:
    ledger = Ledger()
    a, b = FlowBooks("a", ledger), FlowBooks("b", ledger)
    for i in range(7):
        skb = _packet(a, 100 + i)
        if i < 5:
            skb_consume(skb)
        else:
            skb_drop(skb, DROP_QDISC)
    for _ in range(3):
        skb_drop(_packet(b, 1000), DROP_LINK_LOSS)
    skb_drop(_packet(b, 1000), DROP_QDISC)
    held = _packet(b, 60)  # still in flight

    assert (a.sent_packets, a.delivered_packets, a.dropped) == (7, 5, {DROP_QDISC: 2})
    assert (b.sent_packets, b.delivered_packets) == (5, 0)
    assert b.dropped == {DROP_LINK_LOSS: 3, DROP_QDISC: 1}
    assert ledger.sent == 12
    assert ledger.sent_bytes == sum(range(100, 107)) + 4 * 1000 + 60
    assert ledger.delivered == 5
    assert ledger.delivered_bytes == sum(range(100, 105))
    assert ledger.dropped == {DROP_QDISC: 3, DROP_LINK_LOSS: 3}
    assert ledger.dropped_total == 6
    assert ledger.sent == ledger.delivered + ledger.dropped_total + 1  # `held` in flight
    skb_consume(held)
    assert ledger.sent == ledger.delivered + ledger.dropped_total


def test_flows_of_another_ledger_are_not_counted() -> None:
    mine, other = Ledger(), Ledger()
    skb_consume(_packet(FlowBooks("x", mine), 100))
    skb_drop(_packet(FlowBooks("x", other), 100), DROP_QDISC)
    assert (mine.sent, mine.delivered, mine.dropped) == (1, 1, {})
    assert (other.sent, other.delivered, other.dropped) == (1, 0, {DROP_QDISC: 1})


def test_a_drop_reaches_the_flows_observer_with_reason_and_time() -> None:
    seen: list[tuple[int, str, int]] = []

    class Observer:
        def on_drop(self, skb: SkBuff, reason: str, now: int) -> None:
            seen.append((skb.len, reason, now))

    books = FlowBooks("f", Ledger(), Observer())
    skb_drop(_packet(books, 321), DROP_LINK_LOSS, 42)
    skb_consume(_packet(books, 5))
    assert seen == [(321, DROP_LINK_LOSS, 42)]


def test_a_packet_never_booked_cannot_end_its_life() -> None:
    skb = SkBuff(100, 1, 2, 3, 4, 17, created=0)
    with pytest.raises(AssertionError, match="books it was sent on"):
        skb_consume(skb)
