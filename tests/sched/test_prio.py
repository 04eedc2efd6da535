"""prio: classification as sch_prio.c, strict priority, grafted bands."""

from __future__ import annotations

import pytest
from qdisc_helpers import bare_world, booked

from qdisclab.errors import UserError
from qdisclab.net import World
from qdisclab.sched import TC_H_MAKE, TcFilter, create_qdisc
from qdisclab.skb import skb_consume
from qdisclab.traffic import CbrSource, UdpSink


@pytest.fixture
def world():
    return bare_world(seed=3)


def packet(world, priority=0, dport=9, length=100):
    return booked(world, length, dport, priority=priority)


def bands_of(q):
    return [q.children[m].qlen for m in sorted(q.children)]


def test_defaults_and_options(world):
    q = create_qdisc("prio", world.dev)
    assert q.opt["bands"] == 3
    assert q.opt["priomap"] == [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
    assert [c.kind for c in q.children.values()] == ["pfifo"] * 3
    assert "bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1" in q.describe()
    with pytest.raises(UserError, match="priomap"):
        create_qdisc("prio bands 2 priomap 0 1 2 0 0 0 0 0 0 0 0 0 0 0 0 0", world.dev)
    # A short priomap replaces only its first entries, as tc's parser does.
    short = create_qdisc("prio priomap 0 1", world.dev)
    assert short.opt["priomap"] == [0, 1, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
    with pytest.raises(UserError, match=r"bands 17 is outside 2\.\.16"):
        create_qdisc("prio bands 17", world.dev)


def test_priomap_classification(world):
    q = world.dev.set_qdisc(
        create_qdisc("prio bands 4 priomap 3 2 1 0 3 3 3 3 3 3 3 3 3 3 3 3", world.dev)
    )
    for prio in (0, 1, 2, 3, 16 + 3):  # priority & TC_PRIO_MAX picks the entry
        q.enqueue(packet(world, priority=prio))
    assert bands_of(q) == [2, 1, 1, 1]
    # A priority with a foreign major is treated as priority 0 (-> priomap[0] = band 3).
    q.enqueue(packet(world, priority=0x50001))
    assert bands_of(q) == [2, 1, 1, 2]
    # skb.priority naming this qdisc's class picks minor-1 directly; out of range -> priomap[0].
    q.enqueue(packet(world, priority=TC_H_MAKE(q.handle, 2)))
    q.enqueue(packet(world, priority=TC_H_MAKE(q.handle, 9)))
    assert bands_of(q) == [2, 2, 1, 3]


def test_filter_classification(world):
    q = world.dev.set_qdisc(create_qdisc("prio", world.dev))
    q.filters.add(TcFilter(prio=1, classid=TC_H_MAKE(q.handle, 3), match={"dport": 53}))
    q.filters.add(TcFilter(prio=2, classid=TC_H_MAKE(q.handle, 7), match={"dport": 80}))
    q.enqueue(packet(world, priority=6, dport=53))  # filter beats priomap (6 -> band 0)
    q.enqueue(packet(world, priority=6, dport=80))  # classid out of range -> priomap[0] = 1
    q.enqueue(packet(world, priority=6, dport=22))  # no match -> priomap
    assert bands_of(q) == [1, 1, 1]
    assert q.children[3].qlen == 1 and q.children[2].qlen == 1


def test_dequeue_is_strict(world):
    q = create_qdisc("prio", world.dev)
    for prio in (0, 2, 6, 1, 7, 0):  # bands 1, 2, 0, 2, 0, 1
        q.enqueue(packet(world, priority=prio, length=100 + prio))
    out = []
    while (skb := q.dequeue()) is not None:
        out.append(skb.priority)
        skb_consume(skb)
    assert out == [6, 7, 0, 0, 2, 1]
    assert q.qlen == q.backlog == 0


def test_graft_replaces_a_band_and_shows_in_stats(world):
    q = create_qdisc("prio", world.dev)
    q.enqueue(packet(world, priority=2, length=200))  # band 2 (minor 3)
    child = q.graft(3, "bfifo limit 3000")
    # The old band's packet was freed and left the parent's counters.
    assert q.qlen == 0 and world.ledger.dropped == {"qdisc_reset": 1}
    for _ in range(20):
        q.enqueue(packet(world, priority=2, length=1000))
    assert child.qlen == 3 and child.drops == 17 and q.qlen == 3 and q.drops == 17
    text = q.stats_text()
    assert f"qdisc bfifo {child.handle >> 16:x}: dev eth0 parent {q.handle >> 16:x}:3" in text
    assert "backlog 3000b 3p" in text
    while (skb := q.dequeue()) is not None:
        skb_consume(skb)
    led = world.ledger
    assert led.sent == led.delivered + led.dropped_total


def test_prio_is_strict_on_a_link():
    """A 60 mbit band-0 flow keeps its rate; a 100 mbit band-2 flow gets the rest (40)."""
    w = World(seed=11)
    a, b = w.add_host("A"), w.add_host("B")
    link = w.connect(a, b, "100mbit", "1ms", qdisc_a="prio")
    w.build_routes()
    q = link.a.qdisc
    q.filters.add(TcFilter(prio=1, classid=TC_H_MAKE(q.handle, 1), match={"dport": 5001}))
    q.filters.add(TcFilter(prio=1, classid=TC_H_MAKE(q.handle, 3), match={"dport": 5002}))
    hi, lo = UdpSink(b, 5001), UdpSink(b, 5002)
    stop = 1_000_000_000
    CbrSource(a, b.addr, 5001, "hi", rate="60mbit", size=1500, stop=stop)
    CbrSource(a, b.addr, 5002, "lo", rate="100mbit", size=1500, stop=stop)
    w.run(200_000_000)
    hi0, lo0 = hi.bytes, lo.bytes
    w.run(stop)
    secs = 0.8
    hi_mbit = (hi.bytes - hi0) * 8 / secs / 1e6
    lo_mbit = (lo.bytes - lo0) * 8 / secs / 1e6
    assert hi_mbit == pytest.approx(60, rel=0.02)
    assert lo_mbit == pytest.approx(40, rel=0.03)
    assert q.children[1].drops == 0 and q.children[3].drops > 0
    w.check_conservation()
