"""htb: class configuration, classification, token buckets, borrowing up to ceil."""

from __future__ import annotations

import pytest
from qdisc_helpers import bare_world, booked

from qdisclab.errors import UserError
from qdisclab.net import World
from qdisclab.sched import TC_H_MAKE, TcFilter, create_qdisc
from qdisclab.sched.htb_class import HTB_CAN_SEND, HTB_CANT_SEND, HtbClassSpec
from qdisclab.skb import skb_consume
from qdisclab.traffic import PoissonSource, UdpSink

TREE = (
    "htb default 20 class 1:1 rate 100mbit"
    " class 1:10 parent 1:1 rate 30mbit ceil {ceil}"
    " class 1:20 parent 1:1 rate 70mbit ceil 100mbit"
)


@pytest.fixture
def world():
    return bare_world(seed=5)


def packet(world, priority=0, dport=9, length=1000):
    return booked(world, length, dport, priority=priority)


def test_class_spec_defaults():
    spec = HtbClassSpec("1:10", rate="80mbit")
    assert spec.ceil == 80_000_000
    assert spec.burst == spec.cburst == 1600  # tc: rate/HZ + mtu, with HZ = 1e9 (psched clock)
    assert HtbClassSpec("1:a", rate="8kbit", prio=9).prio == 7  # clamped like the kernel


def test_string_and_python_configuration_agree(world):
    text = 'htb default 10 r2q 5 class 1:1 rate 10mbit class 1:10 parent 1:1 rate 4mbit ceil 10mbit prio 2 quantum 3000 leaf "pfifo limit 7"'
    q1 = create_qdisc(text, world.dev)
    classes = [
        HtbClassSpec("1:1", rate="10mbit"),
        HtbClassSpec("1:10", rate="4mbit", ceil="10mbit", parent="1:1", prio=2, quantum=3000,
                     leaf="pfifo limit 7"),
    ]  # fmt: skip
    q2 = create_qdisc("htb", world.dev, opt={"default": 0x10, "r2q": 5, "classes": classes})
    for q in (q1, q2):
        leaf = q.children[0x10]
        assert sorted(q.children) == [0x10] and leaf.limit == 7
        show = q.ops.class_show()
        assert "rate 4Mbit ceil 10Mbit" in show and "prio 2" in show
        assert "level 7" in show  # the root inner class, as the kernel numbers levels
        assert q.ops.classes[TC_H_MAKE(q.handle, 0x10)].quantum == 3000
    # quantum from r2q: 10mbit / 8 / 5 = 250000 -> clamped to 200000
    assert q1.ops.classes[TC_H_MAKE(q1.handle, 1)].quantum == 200000


@pytest.mark.parametrize(
    "spec, message",
    [
        ("htb class 1:10 parent 1:1 rate 1mbit", "must be defined before"),
        ("htb class 1:10 ceil 1mbit", '"rate" is required'),
        ("htb class 1:10 rate 1mbit colour red", 'What is "colour"'),
        ("htb class 1:1 rate 1mbit class 1:1 rate 2mbit", "defined twice"),
    ],
)
def test_bad_specs(world, spec, message):
    with pytest.raises(UserError, match=message):
        create_qdisc(spec, world.dev)


def test_classification_and_direct_queue(world):
    q = create_qdisc(TREE.format(ceil="100mbit"), world.dev)
    q.filters.add(TcFilter(prio=1, classid=TC_H_MAKE(q.handle, 0x10), match={"dport": 80}))
    q.enqueue(packet(world, priority=TC_H_MAKE(q.handle, 0x10)))  # priority names a leaf
    q.enqueue(packet(world, dport=80))  # filter
    q.enqueue(packet(world, dport=81))  # default 1:20
    q.enqueue(packet(world, priority=TC_H_MAKE(q.handle, 1), dport=81))  # inner -> default
    q.enqueue(packet(world, priority=q.handle, length=64))  # X:0 -> direct queue
    assert (q.children[0x10].qlen, q.children[0x20].qlen, q.qlen) == (2, 2, 5)
    first = q.dequeue()
    assert first.len == 64  # the direct queue is drained first
    skb_consume(first)
    # Without a usable default class, unclassified packets go to the direct queue.
    q2 = create_qdisc("htb default 99 direct_qlen 2 class 1:1 rate 1mbit", world.dev)
    for _ in range(3):
        q2.enqueue(packet(world))
    assert q2.qlen == 2 and q2.drops == 1 and q2.ops.direct_pkts == 2
    while (skb := q.dequeue() or q2.dequeue()) is not None:
        skb_consume(skb)
    led = world.ledger
    assert led.sent == led.delivered + led.dropped_total


def test_rate_limit_arms_the_watchdog_and_counts_overlimits(world):
    """A 8 mbit leaf with 1000-byte packets: 1 packet per ms once its burst is spent."""
    # (cburst too: its default comes from ceil, 8mbit/HZ + 1600 = 2600 bytes)
    q = create_qdisc("htb default 1 class 1:1 rate 8mbit burst 2000 cburst 2000", world.dev)
    for _ in range(10):
        q.enqueue(packet(world))
    sent = []
    while (skb := q.dequeue()) is not None:
        sent.append(skb)
    assert len(sent) == 3  # 2000 bytes of burst, the third packet takes it negative
    cl = q.ops.classes[TC_H_MAKE(q.handle, 1)]
    assert cl.cmode == HTB_CANT_SEND and q.overlimits == 1
    wake = q.watchdog.expires
    assert wake is not None and wake == world.now + 1_000_000  # when tokens reach 0 again
    q.watchdog.cancel()  # no root device to wake here: just let the clock reach ``wake``
    world.run(wake)
    sent.append(q.dequeue())
    assert sent[-1] is not None and q.dequeue() is None
    for skb in sent:
        skb_consume(skb)
    q.reset()
    assert q.qlen == 0 and cl.cmode == HTB_CAN_SEND and not q.ops.active
    assert world.ledger.dropped == {"qdisc_reset": 6}


def share(ceil, r1, r2, seconds=1.0, warmup=0.3):
    w = World(seed=21)
    a, b = w.add_host("A"), w.add_host("B")
    link = w.connect(a, b, "100mbit", "1ms", qdisc_a=TREE.format(ceil=ceil))
    w.build_routes()
    q = link.a.qdisc
    q.filters.add(TcFilter(prio=1, classid=TC_H_MAKE(q.handle, 0x10), match={"dport": 5001}))
    sinks = UdpSink(b, 5001), UdpSink(b, 5002)
    stop = int((warmup + seconds) * 1e9)
    for port, rate in ((5001, r1), (5002, r2)):
        if rate:
            PoissonSource(a, b.addr, port, f"f{port}", rate=rate, size=1500, stop=stop)
    w.run(int(warmup * 1e9))
    start = [s.bytes for s in sinks]
    w.run(stop)
    w.check_conservation()
    rates = [(s.bytes - b0) * 8 / seconds / 1e6 for s, b0 in zip(sinks, start, strict=True)]
    return rates, q


def test_saturated_children_get_their_rates():
    (r10, r20), q = share("60mbit", "90mbit", "90mbit")
    assert r10 == pytest.approx(30, rel=0.03)
    assert r20 == pytest.approx(70, rel=0.03)
    assert q.children[0x10].drops > 0 and q.children[0x20].drops > 0


def test_idle_sibling_lets_a_child_borrow_up_to_its_ceil():
    (r10, r20), q = share("60mbit", "90mbit", None)
    assert r20 == 0
    assert r10 == pytest.approx(60, rel=0.03)  # borrowed 30 from 1:1, stopped by ceil
    cl = q.ops.classes[TC_H_MAKE(q.handle, 0x10)]
    assert cl.borrows > 0 and cl.overlimits > 0 and q.overlimits > 0
    (r10, _), _ = share("100mbit", "120mbit", None)
    assert r10 == pytest.approx(100, rel=0.02)  # ceil = link rate: the whole link


def test_lower_prio_value_borrows_first(world):
    """Both leaves over their rate: spare parent bandwidth goes to prio 0 first."""
    spec = (
        "htb class 1:1 rate 8mbit burst 100000 cburst 100000"
        " class 1:10 parent 1:1 rate 800kbit ceil 8mbit burst 500 cburst 100k prio 1"
        " class 1:20 parent 1:1 rate 800kbit ceil 8mbit burst 500 cburst 100k prio 0"
    )
    q = world.dev.set_qdisc(create_qdisc(spec, world.dev))
    for i in range(40):
        q.enqueue(packet(world, priority=TC_H_MAKE(q.handle, 0x10 if i % 2 else 0x20)))
    out = []
    for _ in range(12):
        skb = q.dequeue()
        out.append(skb.priority & 0xFFFF)
        skb_consume(skb)
    # One packet each on their own rate (prio 0 first), then borrowing: prio 0 (1:20) only.
    assert out[:2] == [0x20, 0x10] and set(out[2:]) == {0x20}
    parent = q.ops.classes[TC_H_MAKE(q.handle, 1)]
    assert parent.cmode == HTB_CAN_SEND and parent.lends == 10
