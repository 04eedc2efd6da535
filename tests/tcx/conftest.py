"""A three-node world (A - B - C) with a recording sink, and packet helpers."""

from __future__ import annotations

from typing import Any

import pytest

from qdisclab.net import World
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume


class Sink:
    """Protocol handler that records (node, skb) and consumes the packet."""

    def __init__(self) -> None:
        self.got: list[tuple[str, SkBuff]] = []

    def bind(self, node: Any) -> None:
        outer = self

        class _H:
            def receive(self, skb: SkBuff) -> None:
                outer.got.append((node.name, skb))
                skb_consume(skb)

        node.register_protocol(IPPROTO_UDP, _H())


class Net:
    def __init__(self) -> None:
        self.world = w = World(seed=3)
        self.a, self.b, self.c = w.add_host("A"), w.add_router("B"), w.add_host("C")
        self.ab = w.connect(self.a, self.b, "1gbit", "1ms")
        self.bc = w.connect(self.b, self.c, "1gbit", "1ms")
        w.build_routes()
        self.sink = Sink()
        for n in (self.a, self.b, self.c):
            self.sink.bind(n)
        self.books = w.flow_books("f")

    def packet(self, dst: Any = None, length: int = 1000, sport: int = 1000) -> SkBuff:
        dst = dst if dst is not None else self.c
        skb = SkBuff(length, self.a.addr, dst.addr, sport, 5001, IPPROTO_UDP,
                     created=self.world.now, flow=self.books)  # fmt: skip
        self.books.book_sent(skb)
        return skb

    def send(self, n: int = 1, **kw: Any) -> list[str]:
        """Send ``n`` packets A -> C, run to completion, return where each ended."""
        before = len(self.sink.got)
        for i in range(n):
            self.a.output(self.packet(sport=1000 + i, **kw))
        self.world.run()
        self.world.check_conservation()
        return [name for name, _ in self.sink.got[before:]]


@pytest.fixture
def net() -> Net:
    return Net()
