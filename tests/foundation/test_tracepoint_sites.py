"""Probe sites rebind when listeners come and go; sojourn logs follow qdiscs created later."""

from __future__ import annotations

from qdisclab.measure.sojourn import SojournRecorder
from qdisclab.net import World
from qdisclab.net.tracepoints import NET_DEV_XMIT
from qdisclab.sched import create_qdisc
from qdisclab.sched.tracepoints import QDISC_DEQUEUE, QDISC_ENQUEUE
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.traffic import CbrSource, UdpSink


def _world(qdisc="fq_codel"):
    w = World(seed=1)
    a, b = w.add_host("A"), w.add_host("B")
    link = w.connect(a, b, "10mbit", "1ms", qdisc_a=qdisc)
    w.build_routes()
    UdpSink(b, 9)
    CbrSource(a, b.addr, 9, "f", rate="20mbit", size=1000, stop=300_000_000)
    return w, link


def test_a_listener_attached_mid_run_sees_every_later_packet_and_none_after_detach():
    w, link = _world()
    w.run(50_000_000)
    q = link.a.qdisc
    seen = {"enqueue": 0, "dequeue": 0, "xmit": 0}
    enq = tracepoint(w.sched, QDISC_ENQUEUE)
    deq = tracepoint(w.sched, QDISC_DEQUEUE)
    xmit = tracepoint(w.sched, NET_DEV_XMIT)

    def on_enq(now, qdisc, skb, ret):
        seen["enqueue"] += 1

    def on_deq(now, qdisc, skb):
        seen["dequeue"] += 1

    def on_xmit(now, dev, skb):
        seen["xmit"] += dev is link.a

    before_packets, before_tx = q.packets, link.a.tx_packets
    for tp, fn in ((enq, on_enq), (deq, on_deq), (xmit, on_xmit)):
        tp.attach(fn)
    w.run(100_000_000)
    assert seen["dequeue"] == q.packets - before_packets > 50
    assert seen["xmit"] == link.a.tx_packets - before_tx
    assert seen["enqueue"] > 0
    for tp, fn in ((enq, on_enq), (deq, on_deq), (xmit, on_xmit)):
        tp.detach(fn)
    frozen = dict(seen)
    w.run(150_000_000)
    assert q.packets > before_packets + frozen["dequeue"]  # traffic went on...
    assert seen == frozen  # ...unseen


def test_sojourn_follows_a_root_grafted_after_the_recorder_started():
    w, link = _world()
    rec = SojournRecorder(w.sched)
    w.run(50_000_000)
    new = link.a.set_qdisc(create_qdisc("codel", link.a))
    w.run(300_000_000)
    summary = rec.summary(new, (0, 300_000_000))
    assert summary["packets"] == new.packets > 100
    rec.detach()
    assert new.sojourn is None
    w.run(400_000_000)
    assert rec.summary(new, (0, 400_000_000))["packets"] == summary["packets"]


def test_bypassed_packets_count_with_zero_sojourn():
    w, link = _world("pfifo")
    rec = SojournRecorder(w.sched)
    w.run(300_000_000)
    q = link.a.qdisc
    _times, values = rec.samples(q)
    assert len(values) == q.packets > 100
    assert 0 in values and max(values) > 0  # the first went past the empty fifo, the rest waited


def test_a_probe_site_proxy_is_held_weakly_and_names_the_object_it_stands_for():
    import gc

    from qdisclab.sim import Scheduler
    from qdisclab.sim.tracepoint import ProbeSiteProxy

    class Site:
        def __init__(self):
            self.rebinds = 0

        def rebind_probes(self):
            self.rebinds += 1

    tp = tracepoint(Scheduler(), NET_DEV_XMIT)
    kept, dropped = Site(), Site()
    kept_proxy = ProbeSiteProxy(kept)
    tp.add_site(kept_proxy)
    tp.add_site(ProbeSiteProxy(dropped))  # nobody keeps this proxy alive
    gc.collect()
    tp.attach(lambda now, dev, skb: None)
    assert (kept.rebinds, dropped.rebinds) == (1, 0)
    assert [site.target for site in tp.sites] == [kept]


def test_every_device_of_a_world_is_a_site_of_its_xmit_tracepoint():
    w, _ = _world()
    targets = {site.target for site in tracepoint(w.sched, NET_DEV_XMIT).sites}
    assert targets == set(w.devices.values())
