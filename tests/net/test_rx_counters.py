"""A device's receive counters are derived from its wire (what was sent, lost, still on
it) plus what was handed over otherwise: they must equal what really arrived, at any
moment, over a lossy wire, and through a veth pair, which bypasses the wire."""

from __future__ import annotations

from qdisclab.net import World
from qdisclab.netkit import create_veth_pair
from qdisclab.skb import ETH_HLEN
from qdisclab.traffic import UdpSink, UdpSocket


def test_receive_counters_follow_arrivals_over_a_lossy_wire():
    world = World(seed=4)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "10mbit", "1ms", loss=0.3)
    world.build_routes()
    sink = UdpSink(b, 9)
    sock = UdpSocket(a, 1000, "ab")
    sizes = [100 + 23 * i for i in range(60)]  # up to 1457 bytes: all within the MTU
    for size in sizes:
        sock.sendto(b.addr, 9, size)
    seen_in_flight = False
    for step in range(1, 160):
        world.run(until=step * 500_000)
        # every arrival went to the sink, which sees the packet without its header
        assert link.b.rx_packets == sink.packets
        assert link.b.rx_bytes == sink.bytes + ETH_HLEN * sink.packets
        seen_in_flight |= bool(link.a.channel.line) and sink.packets > 0
    assert seen_in_flight, "the checks above ran while packets were on the wire"
    lost = world.ledger.dropped.get("link_loss", 0)
    assert 0 < lost < len(sizes)
    assert link.b.rx_packets + lost == link.a.tx_packets == len(sizes)
    assert link.a.rx_packets == 0  # nothing came back


def test_veth_receive_counters_count_the_backlogs_hand_over():
    world = World(seed=1)
    a, b = world.add_host("A"), world.add_host("B")
    pair = create_veth_pair(world, a, b)
    world.build_routes()
    sink = UdpSink(b, 9)
    sock = UdpSocket(a, 1000, "ab")
    for size in (100, 200, 300):
        sock.sendto(b.addr, 9, size)
    world.run()
    assert sink.packets == 3
    # veth counts no link-layer header; no packet crossed the (unused) wire
    assert (pair.b.rx_packets, pair.b.rx_bytes) == (3, 600) == (pair.a.tx_packets, pair.a.tx_bytes)
    assert (pair.b.rx_direct_packets, pair.a.rx_packets) == (3, 0)
