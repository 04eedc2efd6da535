import pytest
from qdisc_helpers import make_world, packet

from qdisclab.errors import UserError
from qdisclab.sched import NET_XMIT_CN, create_qdisc
from qdisclab.skb import INET_ECN_CE, INET_ECN_ECT_0

SPEC = "red limit 400000 min 30000 max 90000 avpkt 1000 burst 50 probability 0.02 bandwidth 1mbit"


def _flood(spec, n, **fields):
    """n packets of 1000 B at t=0 into a 1 Mbit/s link: one goes on the wire, the rest queue."""
    world, dev, rec = make_world(spec, rate="1mbit")
    rets = [dev.xmit(packet(world, dev, 1000, **fields)) for _ in range(n)]
    return world, dev, rec, rets


def test_parse_defaults_and_kernel_parameters():
    _w, dev, _ = make_world("pfifo")
    q = create_qdisc("red limit 400000 avpkt 1000", dev)
    red = q.ops
    # q_red.c defaults: max = limit/4, min = max/3, burst = (2min+max)/(3avpkt) = 55
    assert q.opt["max"] == 100000 and q.opt["min"] == 33333 and q.opt["burst"] == 55
    # tc_red_eval_ewma: a = 55 + 1 - 33.3 = 22.7 <= (1 - (31/32)^55) * 32 = 26.4 first at W = 1/32
    assert red.wlog == 5
    assert red.qth_min == 33333 << 5
    assert red.max_p == int(0.02 * 2**32)
    assert q.children[1].kind == "bfifo" and q.children[1].limit == 400000
    # red_print_opt prints the kernel's thresholds as tc sizes, with a trailing space.
    assert q.describe().endswith("limit 400000b min 33333b max 100000b ")
    adaptive = create_qdisc("red limit 400000 avpkt 1000 ecn adaptive nodrop", dev)
    assert adaptive.describe().endswith("max 100000b ecn adaptive nodrop ")
    for bad in ("red avpkt 1000", "red limit 1000",
                "red limit 400000 min 50000 max 40000 avpkt 1000"):  # fmt: skip
        with pytest.raises(UserError):
            create_qdisc(bad, dev)


def test_no_drops_while_average_below_min():
    # 29 queued packets of 1000 B never lift the average above min (30000 B).
    world, dev, rec, rets = _flood(SPEC, 30)
    q = dev.qdisc
    assert q.drops == 0 and q.overlimits == 0 and rets == [0] * 30
    assert q.ops.qavg >> q.ops.wlog < 30000
    world.run()
    assert len(rec.arrivals) == 30
    world.check_conservation()


def test_everything_dropped_above_max():
    world, dev, _rec, rets = _flood(SPEC, 2000)
    q, red = dev.qdisc, dev.qdisc.ops
    assert red.forced_drop > 0 and red.prob_drop > 0
    # Once the average passed max, every later packet is a hard drop.
    first_hard = q.drop_reasons["red_hard"]
    assert rets[-first_hard:] == [NET_XMIT_CN] * first_hard
    assert red.qavg >= red.qth_max
    assert q.drops == red.forced_drop + red.prob_drop
    assert q.overlimits == q.drops
    # No early drop before the backlog (an upper bound of the average) reached min.
    first_drop = rets.index(NET_XMIT_CN)
    assert first_drop > 30
    world.run()
    world.check_conservation()


def test_ecn_marks_instead_of_dropping():
    world, dev, rec, rets = _flood(SPEC + " ecn", 300, ecn=INET_ECN_ECT_0)
    q, red = dev.qdisc, dev.qdisc.ops
    assert q.drops == 0 and rets == [0] * 300
    assert red.prob_mark > 0 and red.forced_mark > 0
    world.run()
    marked = sum(1 for _, s in rec.arrivals if s.ecn == INET_ECN_CE)
    assert marked == red.prob_mark + red.forced_mark
    world.check_conservation()


def test_ecn_still_drops_not_ect_and_harddrop():
    world, dev, _rec, _rets = _flood(SPEC + " ecn", 300)  # not ECT: dropped
    assert dev.qdisc.ops.prob_mark == 0 and dev.qdisc.drops > 0
    world.run()
    world.check_conservation()
    world, dev, _rec, _rets = _flood(SPEC + " ecn harddrop", 300, ecn=INET_ECN_ECT_0)
    red = dev.qdisc.ops
    assert red.forced_drop > 0 and red.forced_mark == 0 and red.prob_mark > 0
    world.run()
    world.check_conservation()


def test_average_decays_while_idle_and_reset():
    world, dev, _rec, _rets = _flood(SPEC, 200)
    red = dev.qdisc.ops
    high = red.qavg
    world.run()  # drains; the idle period starts when the queue empties
    idle_start = red.qidlestart
    assert idle_start > 0
    when = idle_start + 2_000_000_000
    world.sched.call_at(when, lambda _a: dev.xmit(packet(world, dev, 1000)), None)
    world.run()
    # Stab: 1000 B take 8 ms at 1 Mbit/s, W = 1/32: after 2 s the average shifts right by 7.
    assert red.scell_log == 14
    assert red.stab[(2_000_000 >> 14) & 0xFF] == 7
    assert red.qavg == high >> 7
    world.run()
    world.check_conservation()
    _world2, dev2, _r, _x = _flood(SPEC, 100)
    dev2.qdisc.reset()
    assert dev2.qdisc.qlen == 0 and dev2.qdisc.ops.qavg == 0
