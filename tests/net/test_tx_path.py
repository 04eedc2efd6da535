"""``xmit`` keeps what is static per device folded into ``tx_frame_limit``, ``wire_plain``
and ``tx_bypass``: each must follow every change it depends on, or packets would take
the wrong path (bypass a full qdisc, skip a trace, pass the MTU, skip the loss draw)."""

from __future__ import annotations

from qdisclab.net import World
from qdisclab.sched.tracepoints import QDISC_DEQUEUE
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.traffic import UdpSink, UdpSocket


def _pair():
    world = World(seed=1)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "100mbit", "1ms")
    world.build_routes()
    sink = UdpSink(b, 9)
    return world, b, link, sink, UdpSocket(a, 1000, "ab")


def test_a_qdisc_change_that_forbids_the_bypass_reaches_the_device():
    world, b, link, sink, sock = _pair()
    assert link.a.tx_bypass
    link.a.qdisc.change({"limit": 0})  # fifo_init: a fifo of limit 0 is never bypassed
    assert not link.a.tx_bypass
    sock.sendto(b.addr, 9, 100)
    world.run()
    assert sink.packets == 0 and world.ledger.dropped == {"qdisc": 1}


def test_a_listener_on_the_qdisc_takes_the_bypass_off_the_fast_path():
    world, b, link, sink, sock = _pair()
    seen = []
    deq = tracepoint(world.sched, QDISC_DEQUEUE)
    deq.attach(lambda now, q, skb: seen.append(skb.len))
    assert not link.a.tx_bypass and link.a.wire_plain
    sock.sendto(b.addr, 9, 100)
    world.run()
    assert seen == [114] and sink.packets == 1
    deq.detach(deq.listeners[0])
    assert link.a.tx_bypass


def test_loss_and_mtu_set_after_wiring_change_the_path():
    world, b, link, sink, sock = _pair()
    link.a.channel.loss = 0.999
    assert not link.a.wire_plain and not link.a.tx_bypass
    sock.sendto(b.addr, 9, 100)
    world.run()
    assert world.ledger.dropped == {"link_loss": 1}
    link.a.channel.loss = 0.0
    assert link.a.wire_plain and link.a.tx_bypass
    link.a.mtu = 500
    assert link.a.tx_frame_limit == 514
    sock.sendto(b.addr, 9, 501)
    sock.sendto(b.addr, 9, 500)
    world.run()
    assert world.ledger.dropped == {"link_loss": 1, "mtu": 1} and sink.packets == 1
