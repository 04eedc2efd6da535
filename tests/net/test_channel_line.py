"""A wire keeps its packets in line: one heap entry per busy wire, events in the same order."""

from __future__ import annotations

from qdisclab.net import Channel, World
from qdisclab.sim import Scheduler
from qdisclab.skb import IPPROTO_UDP, SkBuff
from qdisclab.traffic import UdpSink


def _burst(dev, books, n: int, dst: int) -> None:
    for _ in range(n):
        skb = SkBuff(986, 1, dst, 5, 9, IPPROTO_UDP, 0, books)  # 1000 bytes with Ethernet
        books.book_sent(skb)
        dev.xmit(skb)


def test_only_the_head_of_a_wire_waits_in_the_heap():
    world = World(seed=1)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "1gbit", "10ms", qdisc="pfifo")
    world.build_routes()
    sink = UdpSink(b, 9)
    books = world.flow_books("f")
    _burst(link.a, books, 5, b.addr)
    world.run(until=1_000_000)  # the 5 serialisations end by 40 us; none has arrived
    # All 5 are on the wire (1 000 bytes at 1 gbit = 8 us each, 10 ms delay): one entry.
    assert len(link.a.channel.line) == 5 and len(world.sched.heap) == 1
    assert link.b.in_flight == 5 and world.check_conservation()["in_flight"] == 5
    world.run()
    assert sink.packets == 5 and not link.a.channel.line and not world.sched.heap
    assert world.check_conservation()["delivered"] == 5


def _packet(tag: int) -> SkBuff:
    return SkBuff(100, 1, 2, tag, 9, IPPROTO_UDP, 0)


def test_the_arrivals_keep_their_times_and_the_order_of_equal_times():
    sched = Scheduler()
    seen: list[int] = []
    wire = Channel(8_000_000, 0)
    wire.attach(sched, lambda skb: seen.append(skb.sport))
    # Another event made between two packets at the same time runs between them, as it
    # would with every packet in the heap: the entries keep their sequence numbers.
    wire.send(10, _packet(1))
    sched.call_at(10, seen.append, 100)
    wire.send(10, _packet(2))
    wire.send(25, _packet(3))
    sched.call_at(20, seen.append, 200)
    sched.run()
    assert seen == [1, 100, 2, 200, 3]
    assert sched.now == 25


def test_events_count_what_ran_when_packets_are_still_on_a_wire():
    sched = Scheduler()
    seen: list[int] = []
    wire = Channel(8_000_000, 0)
    wire.attach(sched, lambda skb: seen.append(skb.sport))
    for when in (10, 20, 30, 40):
        wire.send(when, _packet(when))
    sched.run(until=25)
    assert seen == [10, 20] and sched.events == 2  # the two still in line did not run
    sched.run()
    assert seen == [10, 20, 30, 40] and sched.events == 4


def test_turning_jitter_off_never_lets_a_packet_overtake_a_jittered_one():
    world = World(seed=3)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "1gbit", "1ms", jitter="5ms")
    world.build_routes()
    arrivals: list[int] = []
    sink = UdpSink(b, 9)
    books = world.flow_books("f")
    _burst(link.a, books, 20, b.addr)
    world.run(until=200_000)  # 20 x 8 us on the wire, none arrived (1 ms + up to 5 ms)
    link.a.channel.jitter = 0  # the next ones would arrive at once, before the jittered
    _burst(link.a, books, 5, b.addr)
    world.run(until=300_000)
    times = [entry[0] for entry in link.a.channel.line]
    assert times == sorted(times) and len(times) == 25
    tap = link.b.tp_receive
    tap.attach(lambda now, dev, skb: arrivals.append(now))
    world.run()
    assert sink.packets == 25 and arrivals == sorted(arrivals) and arrivals == times


def test_a_lossy_wire_lines_up_only_what_it_did_not_lose():
    world = World(seed=5)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "1gbit", "1ms", loss=0.5)
    world.build_routes()
    sink = UdpSink(b, 9)
    books = world.flow_books("f")
    _burst(link.a, books, 40, b.addr)
    world.run()
    lost = world.check_conservation()["dropped"].get("link_loss", 0)
    assert 0 < lost < 40 and sink.packets == 40 - lost


def _lossy_run(loss_at_connect: bool) -> tuple[int, list[int]]:
    world = World(seed=9)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "1gbit", "1ms", loss=0.3 if loss_at_connect else 0.0)
    if not loss_at_connect:
        link.a.channel.loss = 0.3  # its stream is made when first drawn from
    world.build_routes()
    sink = UdpSink(b, 9)
    arrivals: list[int] = []
    link.b.tp_receive.attach(lambda now, dev, skb: arrivals.append(now))
    _burst(link.a, world.flow_books("f"), 60, b.addr)
    world.run()
    return sink.packets, arrivals


def test_a_link_draws_the_same_losses_whenever_its_stream_is_made():
    delivered, arrivals = _lossy_run(True)
    assert 0 < delivered < 60
    assert _lossy_run(False) == (delivered, arrivals)


def test_a_wire_refuses_a_new_rate_or_delay_and_keeps_delivering_on_time():
    import pytest

    from qdisclab.errors import UserError

    world = World(seed=1)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "8mbit", "1ms", qdisc="pfifo")
    world.build_routes()
    sink = UdpSink(b, 9)
    wire = link.a.channel
    with pytest.raises(UserError, match=r"rate is fixed.*tbf"):
        wire.rate = 1_000_000
    with pytest.raises(UserError, match=r"delay is fixed.*netem"):
        wire.delay = 0
    assert (wire.rate, wire.delay) == (8_000_000, 1_000_000)
    _burst(link.a, world.flow_books("f"), 1, b.addr)
    world.run()
    # 1 000 bytes at 8 mbit = 1 ms of serialisation, then the 1 ms the wire was made with.
    assert sink.packets == 1 and world.sched.now == 2_000_000
    # loss and jitter stay adjustable
    wire.loss = 0.5
    assert wire.impaired and wire.loss == 0.5
