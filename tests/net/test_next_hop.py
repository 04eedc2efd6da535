"""A device's wire ends in its next hop: the peer device, or any ``WireEnd`` (a live port)."""

from __future__ import annotations

from qdisclab.net import World
from qdisclab.net.channel import Channel
from qdisclab.net.device import WireEnd
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume


class _Tap(WireEnd):
    """A next hop that is not a device: records when each packet crossed the wire."""

    __slots__ = ("arrivals", "sched")

    def __init__(self, world: World) -> None:
        super().__init__()
        self.sched = world.sched
        self.arrivals: list[tuple[int, int]] = []
        world.packet_holders.append(self)

    def receive(self, skb: SkBuff) -> None:
        self.arrivals.append((skb.len, self.sched.now))
        skb_consume(skb)

    def held_packets(self) -> int:
        return self.in_flight


def test_a_wire_can_end_in_something_other_than_a_device():
    world = World(seed=1)
    host = world.add_host("A")
    dev = world.new_device(host, "tap0")
    tap = _Tap(world)
    dev.attach_peer(tap, Channel(8_000_000, 1_000_000))  # 1 byte/us, 1 ms
    dev.set_qdisc(_pfifo(dev))
    assert dev.next_hop is tap and dev.peer is None  # not a device: no topology behind it
    books = world.flow_books("f")
    for _ in range(3):
        skb = SkBuff(986, 1, 2, 5, 6, IPPROTO_UDP, 0, books)  # 1000 bytes with Ethernet
        books.book_sent(skb)
        dev.xmit(skb)
    assert tap.in_flight == 1 and dev.qdisc.qlen == 2  # one on the wire, two queued
    world.run()
    # Back to back at 1 ms a packet: each arrives 1 ms (serialisation) + 1 ms (delay) later.
    assert tap.arrivals == [(1000, 2_000_000), (1000, 3_000_000), (1000, 4_000_000)]
    assert tap.in_flight == 0 and dev.tx_packets == 3
    books_now = world.check_conservation()
    assert books_now["delivered"] == 3 and books_now["in_flight"] == 0


def test_a_link_joins_devices_both_ways():
    world = World(seed=1)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "10mbit", "1ms")
    assert link.a.next_hop is link.b and link.a.peer is link.b
    assert link.b.next_hop is link.a and link.b.peer is link.a
    assert link.a.channel is not link.b.channel  # one channel per direction


def _pfifo(dev):
    from qdisclab.sched import create_qdisc

    return create_qdisc("pfifo", dev)
