from itertools import pairwise

import pytest
from qdisc_helpers import make_world, packet, send_at

from qdisclab.errors import UserError
from qdisclab.sched import create_qdisc


def _bursts(arrivals, gap_ns):
    """Split arrivals into back-to-back runs (spacing <= gap_ns); returns byte totals."""
    runs, last, total = [], None, 0
    for t, skb in arrivals:
        if last is not None and t - last > gap_ns:
            runs.append(total)
            total = 0
        total += skb.len
        last = t
    runs.append(total)
    return runs


def test_long_run_rate_within_one_percent():
    # 20 Mbit/s offered into tbf rate 10mbit on a 100 Mbit/s link, for 2 s.
    world, dev, rec = make_world("tbf rate 10mbit burst 15000 limit 60000", rate="100mbit")
    for i in range(3334):
        send_at(world, dev, i * 600_000)
    world.run(2_000_000_000)
    steady = [(t, s) for t, s in rec.arrivals if t > 200_000_000]
    nbytes = sum(s.len for _, s in steady[1:])
    rate = nbytes * 8 * 1e9 / (steady[-1][0] - steady[0][0])
    assert rate == pytest.approx(10e6, rel=0.01)
    q = dev.qdisc
    assert q.overlimits > 0
    assert q.drops > 0  # the 60 kB limit overflowed: the child's drops count here too
    world.check_conservation()


def test_largest_back_to_back_burst_equals_bucket():
    # After 20 ms idle the bucket is full: nine 1514 B frames (13626 B of the 15000 B
    # bucket) leave back to back at line rate, the tokens earned meanwhile let a tenth
    # follow 3 us later, then frames are spaced by 1.2112 ms each.
    world, dev, rec = make_world("tbf rate 10mbit burst 15000 limit 100000", rate="1gbit")
    world.sched.call_at(
        20_000_000,
        lambda _a: [dev.xmit(packet(world, dev)) for _ in range(40)],
        None,
    )
    world.run()
    runs = _bursts(rec.arrivals, gap_ns=20_000)
    assert runs[0] == 10 * 1500  # the receiver counts IP packets, the bucket frames
    assert max(runs) == 10 * 1500
    assert runs[1:] == [1500] * 30
    spacing = rec.arrivals[11][0] - rec.arrivals[10][0]
    assert spacing == 1_211_200  # psched_l2t_ns(10mbit, 1514), as the kernel's tbf
    world.check_conservation()


def test_peakrate_spaces_the_burst():
    world, dev, rec = make_world(
        # mtu 1514 would hold 1513 B after tc's tick rounding, so Linux drops full frames.
        "tbf rate 10mbit burst 15000 limit 100000 peakrate 20mbit mtu 1600",
        rate="1gbit",
    )
    world.sched.call_at(
        1_000_000, lambda _a: [dev.xmit(packet(world, dev)) for _ in range(5)], None
    )
    world.run()
    times = [t for t, _ in rec.arrivals]
    # 1514 B at 20 Mbit/s is 605.6 us; the first gap is shorter by the 86 spare bytes
    # of the 1600 B peak bucket (34.4 us)
    assert [b - a for a, b in pairwise(times)] == [571_200] + [605_600] * 3
    world.check_conservation()


def test_oversize_packets_are_dropped_with_reason():
    world, dev, rec = make_world("tbf rate 1mbit burst 1000 latency 50ms")
    dev.xmit(packet(world, dev, 1500))
    dev.xmit(packet(world, dev, 500))
    world.run()
    assert [s.len for _, s in rec.arrivals] == [500]
    assert dev.qdisc.drop_reasons == {"tbf_oversize": 1}
    world.check_conservation()


def test_options_and_show_line():
    _w, dev, _ = make_world("pfifo")
    q = create_qdisc("tbf rate 1mbit buffer 10kb latency 50ms", dev)
    assert q.limit == 16490
    assert q.children[1].kind == "bfifo" and q.children[1].limit == 16490
    assert "rate 1Mbit burst 10Kb lat 50ms " in q.describe()
    for bad in (
        "tbf burst 10kb limit 1000",
        "tbf rate 1mbit limit 1000",
        "tbf rate 1mbit burst 10kb",
        "tbf rate 1mbit burst 10kb limit 1000 latency 1ms",
        "tbf rate 1mbit burst 10kb limit 1000 peakrate 2mbit",
        "tbf rate 1mbit burst 10kb limit 1000 peakrate 1mbit mtu 1500",
    ):
        with pytest.raises(UserError):
            create_qdisc(bad, dev)


def test_reset_frees_child_and_refills():
    world, dev, _ = make_world("tbf rate 1mbit burst 3000 limit 100000", rate="1gbit")
    for _ in range(10):
        dev.xmit(packet(world, dev))
    q = dev.qdisc
    assert q.qlen == 9  # one is on the wire; the rest wait behind it
    q.reset()
    assert q.qlen == 0 and q.backlog == 0 and q.children[1].qlen == 0
    world.run()
    world.check_conservation()


def test_grafted_netem_child_with_duplicates_keeps_conservation():
    world, dev, rec = make_world("tbf rate 5mbit burst 5000 limit 30000", rate="100mbit")
    dev.qdisc.graft(1, "netem delay 10ms 5ms duplicate 30% loss 5% limit 15")
    for i in range(1000):
        send_at(world, dev, i * 1_000_000)
    for until in (200_000_000, 500_000_000, None):
        world.run(until)
        world.check_conservation()
    netem = dev.qdisc.children[1]
    assert netem.kind == "netem" and netem.ops.duplicated > 0
    assert world.ledger.sent == 1000 + netem.ops.duplicated
    assert dev.qdisc.packets == len(rec.arrivals)
