"""An empty fifo on an idle device is bypassed: counted as sent, traced when watched."""

from __future__ import annotations

from qdisclab.net import World
from qdisclab.sched.tracepoints import QDISC_DEQUEUE, QDISC_ENQUEUE
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.traffic import CbrSource, UdpSink


def _sparse_world():
    """A pfifo root that never holds a packet: 1 mbit offered to a 100 mbit wire."""
    w = World(seed=1)
    a, b = w.add_host("A"), w.add_host("B")
    link = w.connect(a, b, "100mbit", "1ms", qdisc_a="pfifo")
    w.build_routes()
    UdpSink(b, 9)
    CbrSource(a, b.addr, 9, "f", rate="1mbit", size=500, stop=200_000_000)
    return w, link


def test_unwatched_bypass_counts_every_packet_sent():
    w, link = _sparse_world()
    q = link.a.qdisc
    assert q.bypass_unwatched
    w.run(200_000_000)
    assert q.packets == link.a.tx_packets > 40
    assert q.bytes == link.a.tx_bytes
    assert q.qlen == q.backlog == 0


def test_a_listener_makes_the_bypass_watched_and_sees_each_packet():
    w, link = _sparse_world()
    q = link.a.qdisc
    seen = []
    enq, deq = tracepoint(w.sched, QDISC_ENQUEUE), tracepoint(w.sched, QDISC_DEQUEUE)

    def on_deq(now, qdisc, skb):
        seen.append(skb.len)

    deq.attach(on_deq)
    assert not q.bypass_unwatched
    w.run(100_000_000)
    assert len(seen) == q.packets > 20 and sum(seen) == q.bytes
    deq.detach(on_deq)
    assert q.bypass_unwatched  # back to the device counting it
    w.run(200_000_000)
    assert q.packets == link.a.tx_packets > len(seen)
    assert q.bytes == link.a.tx_bytes
    assert not enq.listeners


def test_a_sojourn_log_keeps_the_bypass_on_the_devices_path_and_notes_each_zero():
    from qdisclab.measure.sojourn import SojournRecorder

    w, link = _sparse_world()
    q = link.a.qdisc
    recorder = SojournRecorder(w.sched)
    assert q.sojourn is not None and q.bypass_unwatched and link.a.tx_bypass
    w.run(100_000_000)
    times, sojourns = recorder.samples(q)
    assert len(times) == q.packets == link.a.tx_packets > 20
    assert set(sojourns) == {0}
    assert list(times) == sorted(times) and times[-1] <= w.sched.now
    recorder.detach()
    assert q.sojourn is None and link.a.tx_bypass
    w.run(200_000_000)
    assert len(recorder.samples(q)[0]) == len(times) < q.packets == link.a.tx_packets


def test_past_a_wire_that_is_not_plain_the_qdiscs_bypass_counts_and_notes_each_packet():
    from qdisclab.measure.sojourn import SojournRecorder

    w, link = _sparse_world()
    link.a.channel.loss = 0.05  # a lossy wire: the general transmit path, q.bypass
    q = link.a.qdisc
    recorder = SojournRecorder(w.sched)
    assert not link.a.tx_bypass and q.bypass_unwatched
    w.run(200_000_000)
    times, sojourns = recorder.samples(q)
    assert len(times) == q.packets == link.a.tx_packets > 40
    assert set(sojourns) == {0}
    assert q.bytes == link.a.tx_bytes
