"""Shared fixtures for built-in qdisc tests: a two-host World and a recording receiver."""

from __future__ import annotations

from typing import Any

from qdisclab.net import World
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume


class Recorder:
    """Protocol handler that consumes packets and records (arrival ns, skb)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.arrivals: list[tuple[int, SkBuff]] = []

    def receive(self, skb: SkBuff) -> None:
        self.arrivals.append((self.world.now, skb))
        skb_consume(skb)


def make_world(qdisc: str, rate: str = "1gbit", delay: str = "0ms", **kw: Any):
    """World A -> B with ``qdisc`` as A's root; returns (world, dev_a, recorder_at_b)."""
    world = World(seed=kw.pop("seed", 1))
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, rate, delay, qdisc_a=qdisc, **kw)
    world.build_routes()
    rec = Recorder(world)
    b.register_protocol(IPPROTO_UDP, rec)
    return world, link.a, rec


def packet(world: World, dev: Any, length: int = 1500, **fields: Any) -> SkBuff:
    """A new booked UDP packet from dev's address to its peer."""
    books = world.flow_books(fields.pop("flow", "f"))
    skb = SkBuff(length, dev.addr, dev.peer.addr, 1000, 2000, IPPROTO_UDP, world.now, books)
    for name, value in fields.items():
        setattr(skb, name, value)
    books.book_sent(skb)
    return skb


def send_at(world: World, dev: Any, when: int, length: int = 1500, **fields: Any) -> None:
    """Schedule one packet to enter ``dev`` at ``when`` ns."""
    world.sched.call_at(when, lambda _a: dev.xmit(packet(world, dev, length, **fields)), None)


def bare_world(seed: int) -> World:
    """A World with one host and a device ``w.dev`` on no link, to drive a qdisc by hand.

    ``w.books`` is flow "f"; ``w.host`` the host.
    """
    w = World(seed=seed)
    w.host = w.add_host("A")
    w.dev = w.new_device(w.host)
    w.books = w.flow_books("f")
    return w


def booked(world: World, length: int, dport: int = 9, **fields: Any) -> SkBuff:
    """A new UDP packet on ``world.books`` (booked as sent), with ``fields`` set."""
    skb = SkBuff(length, 1, 2, 1000, dport, IPPROTO_UDP, world.now, world.books)
    for name, value in fields.items():
        setattr(skb, name, value)
    world.books.book_sent(skb)
    return skb
