"""A node's per-packet lookups: the route cache follows route changes; unclaimed protocols drop."""

from __future__ import annotations

from qdisclab.net import World
from qdisclab.skb import DROP_NO_SOCKET, IPPROTO_UDP, SkBuff, skb_consume
from qdisclab.traffic import UdpSink, UdpSocket


def _line():
    world = World(seed=1)
    h, r, a, b = (world.add_host("H"), world.add_router("R"), world.add_host("A"),
                  world.add_host("B"))  # fmt: skip
    world.connect(h, r, "1gbit", "1ms")
    to_a = world.connect(r, a, "1gbit", "1ms")
    to_b = world.connect(r, b, "1gbit", "1ms")
    world.build_routes()
    return world, h, r, a, b, to_a, to_b


def test_a_route_added_after_packets_went_out_takes_the_next_packets():
    world, h, r, a, b, to_a, to_b = _line()
    UdpSink(a, 9)
    UdpSink(b, 9)
    sock = UdpSocket(h, 1000, "moved")
    for _ in range(3):  # cached at H and at R after the first packet
        sock.sendto(a.addr, 9, 100)
    world.run()
    assert (to_a.a.tx_packets, to_b.a.tx_packets) == (3, 0)
    # R now sends A's address towards B (a /32 beats the connected /24): the cache follows.
    r.routes.add(a.addr, 32, to_b.a)
    for _ in range(2):
        sock.sendto(a.addr, 9, 100)
    world.run()
    assert (to_a.a.tx_packets, to_b.a.tx_packets) == (3, 2)
    assert (
        world.flows["moved"].delivered_packets == 3
    )  # B does not own A's address and does not forward
    assert world.flows["moved"].dropped == {"not_forwarding": 2}


def test_a_packet_for_a_protocol_nobody_registered_is_dropped_as_no_socket():
    world, h, _r, a, _b, _to_a, _to_b = _line()
    UdpSink(a, 9)
    books = world.flow_books("raw")
    skb = SkBuff(100, h.addr, a.addr, 1, 2, 47, 0, books)  # IP protocol 47 (GRE): no handler
    books.book_sent(skb)
    h.output(skb)
    sock = UdpSocket(h, 1000, "udp")
    sock.sendto(a.addr, 9, 100)
    world.run()
    assert books.dropped == {DROP_NO_SOCKET: 1} and books.delivered_packets == 0
    assert world.flows["udp"].delivered_packets == 1 and IPPROTO_UDP in a.protocols


def test_a_port_bound_by_udp_is_forgotten_when_another_handler_takes_udp():
    # A sink's port is found without the UDP stack; a new UDP handler must see the packets.
    world, h, _r, a, _b, _to_a, _to_b = _line()
    sink = UdpSink(a, 9)
    sock = UdpSocket(h, 1000, "udp")
    sock.sendto(a.addr, 9, 100)
    world.run()
    assert sink.packets == 1

    class Taker:
        def __init__(self) -> None:
            self.seen: list[int] = []

        def receive(self, skb: SkBuff) -> None:
            self.seen.append(skb.dport)
            skb_consume(skb)

    taker = Taker()
    a.register_protocol(IPPROTO_UDP, taker)
    sock.sendto(a.addr, 9, 100)
    world.run()
    assert sink.packets == 1 and taker.seen == [9]


def test_a_sink_tells_an_observer_other_than_flow_metrics_of_each_delivery():
    world, h, _r, a, _b, _to_a, _to_b = _line()
    sink = UdpSink(a, 9)

    class Watcher:
        def __init__(self) -> None:
            self.delivered: list[tuple[int, int]] = []

        def on_deliver(self, skb: SkBuff, now: int) -> None:
            self.delivered.append((skb.len, now))

        def on_drop(self, skb: SkBuff, reason: str, now: int) -> None:
            raise AssertionError(reason)

    watcher = Watcher()
    sock = UdpSocket(h, 1000, "watched")
    sock.books.observer = watcher
    sock.sendto(a.addr, 9, 100)
    world.run()
    assert len(watcher.delivered) == 1 and watcher.delivered[0][0] == 100
    assert watcher.delivered[0][1] == world.sched.now and sink.bytes == 100
    assert world.flows["watched"].delivered_packets == 1
