"""Helpers for driving one qdisc directly on a small World's device."""

from __future__ import annotations

import itertools

import pytest

from qdisclab.net import World
from qdisclab.skb import IPPROTO_UDP, SkBuff

_ids = itertools.count(1)


class QdiscBench:
    """A device to hang qdiscs on, and a packet factory booked on one flow."""

    def __init__(self, policy: str = "strict") -> None:
        self.world = World(seed=1, policy=policy)
        a, b = self.world.add_host("A"), self.world.add_host("B")
        self.link = self.world.connect(a, b, "1gbit", "1ms")
        self.dev = self.link.a
        self.books = self.world.flow_books("bench")
        self.src, self.dst = a.addr, b.addr

    def skb(
        self, length: int = 1000, sport: int = 1000, dport: int = 2000, priority: int = 0
    ) -> SkBuff:
        skb = SkBuff(
            length, self.src, self.dst, sport, dport, IPPROTO_UDP, self.world.now, self.books
        )
        skb.priority = priority
        self.books.book_sent(skb)
        return skb

    def consume(self, *skbs: SkBuff) -> None:
        """End the life of skbs a test dequeued by hand (as delivered)."""
        from qdisclab.skb import skb_consume

        for skb in skbs:
            skb_consume(skb)

    def graft(self, spec_or_cls):
        from qdisclab.sched import create_qdisc

        q = create_qdisc(spec_or_cls, self.dev)
        self.dev.set_qdisc(q)
        return q


@pytest.fixture
def qbench() -> QdiscBench:
    return QdiscBench()


@pytest.fixture
def qbench_contain() -> QdiscBench:
    return QdiscBench(policy="contain")
