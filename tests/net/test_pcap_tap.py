"""A pcap tap listens on its device's ``net:net_dev_xmit``: only that device's packets,
in transmit order, nothing after detaching, and no listener left behind."""

from __future__ import annotations

import io

import dpkt

from qdisclab.measure.pcap import PcapWriter, attach_tap, detach_tap
from qdisclab.net import World
from qdisclab.traffic import UdpSink, UdpSocket


def _pair():
    world = World(seed=1)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "10mbit", "1ms")
    world.build_routes()
    UdpSink(a, 9)
    UdpSink(b, 9)
    return world, a, b, link


def _records(buf: io.BytesIO) -> list[tuple[int, int, int]]:
    """(timestamp ns, source address, IP length) of every captured packet."""
    reader = dpkt.pcap.Reader(io.BytesIO(buf.getvalue()))
    out = []
    for ts, raw in reader:  # a nanosecond file: dpkt gives the timestamp as a Decimal
        ip = dpkt.ip.IP(raw)
        out.append((int(ts * 1_000_000_000), int.from_bytes(ip.src, "big"), ip.len))
    return out


def test_each_tap_sees_only_its_own_devices_transmissions():
    world, a, b, link = _pair()
    caps = {"a": io.BytesIO(), "b": io.BytesIO()}
    attach_tap(link.a, PcapWriter(caps["a"]))
    attach_tap(link.b, PcapWriter(caps["b"]))
    to_b, to_a = UdpSocket(a, 1000, "ab"), UdpSocket(b, 1000, "ba")
    for size in (100, 200, 300):
        to_b.sendto(b.addr, 9, size)
    to_a.sendto(a.addr, 9, 400)
    world.run()
    from_a, from_b = _records(caps["a"]), _records(caps["b"])
    assert [(src, n) for _t, src, n in from_a] == [(a.addr, 100), (a.addr, 200), (a.addr, 300)]
    assert [(src, n) for _t, src, n in from_b] == [(b.addr, 400)]
    # captured when serialisation starts: back to back at 10 mbit, 1 byte per 800 ns
    # (the wire also carries each packet's 14-byte Ethernet header)
    times = [t for t, _s, _n in from_a]
    assert times == [0, (100 + 14) * 800, (100 + 14 + 200 + 14) * 800]


def test_detached_tap_records_nothing_more_and_leaves_the_device_unprobed():
    world, a, b, link = _pair()
    buf = io.BytesIO()
    writer = PcapWriter(buf)
    attach_tap(link.a, writer)
    assert link.a.traced_xmit and link.b.traced_xmit  # one tracepoint per run: every site
    sock = UdpSocket(a, 1000, "ab")
    sock.sendto(b.addr, 9, 100)
    world.run()
    detach_tap(link.a)
    detach_tap(link.a)  # a second detach is harmless
    sock.sendto(b.addr, 9, 100)
    world.run()
    assert writer.count == 1 and len(_records(buf)) == 1
    assert not link.a.traced_xmit and not link.b.traced_xmit
    assert link.a.tx_packets == 2
