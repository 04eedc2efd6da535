from qdisc_helpers import make_world, packet

from qdisclab.sched import create_qdisc


def test_strict_priority_and_priomap():
    # A slow link: the first packet starts at once, the rest queue and then leave by band.
    world, dev, rec = make_world("pfifo_fast", rate="1mbit")
    # priority -> band: 2 -> 2, 0 -> 1, 6 -> 0, 4 -> 1, 7 -> 0, 15 -> 1 (15 & TC_PRIO_MAX)
    prios = [1, 2, 0, 6, 4, 3, 7, 15, 5, 23]
    for p in prios:
        dev.xmit(packet(world, dev, 100, priority=p, mark=p))
    world.run()
    order = [skb.mark for _, skb in rec.arrivals]
    # The first bypassed the empty queue; the rest leave band 0, then 1, then 2, fifo inside.
    band = {p: (1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)[p & 15] for p in prios}
    assert order[0] == 1
    rest = order[1:]
    assert [band[p] for p in rest] == sorted(band[p] for p in rest)
    assert rest == [6, 7, 23, 0, 4, 15, 2, 3, 5]  # 23 & 15 == 7 -> band 0, fifo within a band
    world.check_conservation()


def test_limit_is_txqueuelen_total_and_reset_frees():
    world, dev, rec = make_world("pfifo_fast", rate="1mbit", tx_queue_len=4)
    for p in (0, 6, 2, 0, 6, 2, 0):
        dev.xmit(packet(world, dev, 100, priority=p))
    q = dev.qdisc
    assert q.limit == 4
    assert q.qlen == 4  # one on the wire, four queued, two dropped
    assert q.drops == 2
    q.reset()
    assert q.qlen == 0 and q.backlog == 0
    assert q.drop_reasons["qdisc_reset"] == 4
    world.run()
    assert len(rec.arrivals) == 1
    world.check_conservation()


def test_show_line():
    _world, dev, _ = make_world("pfifo")
    q = create_qdisc("pfifo_fast", dev)
    assert q.describe().endswith("bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1")
