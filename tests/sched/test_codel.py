"""codel: the CoDel control law as the kernel computes it (RFC 8289, codel_impl.h)."""

from __future__ import annotations

import itertools
import math

import pytest

from qdisclab.errors import UserError
from qdisclab.net import World
from qdisclab.sched import create_qdisc
from qdisclab.sched.codel_law import (
    REC_INV_SQRT_CACHE,
    REC_INV_SQRT_INIT,
    control_law,
    invsqrt,
    ms_to_codel,
    newton_step,
)
from qdisclab.skb import INET_ECN_CE, INET_ECN_ECT_0
from qdisclab.traffic import CbrSource, UdpSink, UdpSocket


def _pair(rate: str, qdisc: str) -> tuple[World, object, object, object]:
    world = World(seed=7)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, rate, "1ms", qdisc_a=qdisc)
    world.build_routes()
    UdpSink(b, 9)
    return world, a, b, link.a.qdisc


def _codel_drop_times(src: CbrSource) -> list[int]:
    return [t for t, reason in src.metrics.drops_over_time if reason == "codel"]


def test_defaults_and_options() -> None:
    _world, _a, _b, q = _pair("10mbit", "codel")
    assert "limit 1000p target 5ms interval 100ms" in q.describe()
    assert q.limit == 1000 and not q.ops.params.ecn
    q2 = create_qdisc("codel limit 50 target 2ms interval 20ms ecn ce_threshold 1ms", q.dev)
    p = q2.ops.params
    assert (q2.limit, p.ecn) == (50, True)
    assert (p.target, p.interval, p.ce_threshold) == (2_000_000 >> 10, 20_000_000 >> 10, 976)
    with pytest.raises(UserError, match='What is "bogus"'):
        create_qdisc("codel bogus 1", q.dev)


def test_newton_step_matches_float_newton_and_converges() -> None:
    # One Newton step per count, from 1.0, in floating point: y <- y(3 - c y^2)/2.
    rec, y = REC_INV_SQRT_INIT, 1.0
    for count in range(2, 200):
        rec = newton_step(rec, count)
        y = y * (3 - count * y * y) / 2
        assert abs(rec / 65536 - y) < 1e-3
    assert abs(rec / 65536 - 1 / math.sqrt(199)) < 0.002


def test_invsqrt_cache_is_converged_for_small_counts() -> None:
    for count in range(1, REC_INV_SQRT_CACHE):
        # converged to the precision Q0.16 fixed-point Newton reaches (~6e-4 relative)
        assert abs(invsqrt(REC_INV_SQRT_INIT, count) / 65536 - 1 / math.sqrt(count)) < 1e-3
    # beyond the table it is one Newton step from the previous estimate, as sch_codel
    assert invsqrt(1000, 40) == newton_step(1000, 40)


def test_drops_start_after_one_interval_then_follow_the_kernel_control_law() -> None:
    # 1.2 Gbit/s of 1500 B packets (one per 10 us) into 1 Gbit/s of 1514 B frames (one
    # per 12.112 us): sojourn grows 2.112 us per packet; drop times are quantised to 12.112 us.
    world, a, b, _q = _pair("1gbit", "codel limit 10000")
    src = CbrSource(a, b.addr, 9, "bulk", rate="1200mbit", size=1500, stop="1s")
    world.run(700_000_000)
    drops = _codel_drop_times(src)
    # Sojourn of packet k is ~ k * 2.112 us, above 5 ms from k ~ 2367, dequeued at ~28.7 ms.
    above_at = 2367 * 12_112
    assert above_at + 100_000_000 <= drops[0] < above_at + 100_000_000 + 200_000
    spacings_ms = [(t1 - t0) / 1e6 for t0, t1 in itertools.pairwise(drops)]
    # validation.md: successive drops follow interval/sqrt(count):
    # 100, 70.7, 57.7, 50.0, 44.7 ms (to the 1024 ns codel time unit and the
    # 12 us dequeue quantum of this setup).
    expected = [100.0, 70.7, 57.7, 50.0, 44.7]
    for got, want in zip(spacings_ms[:5], expected, strict=True):
        assert abs(got - want) < 0.1, (spacings_ms[:5], expected)
    # And later spacings converge on interval / sqrt(count).
    for i in range(6, 10):
        assert abs(spacings_ms[i] - 100 / math.sqrt(i + 1)) < 0.02 * 100 / math.sqrt(i + 1)
    world.check_conservation()


def test_short_burst_above_target_is_not_dropped() -> None:
    # 300 packets at once onto 100 Mbit/s: ~36 ms of queue, drained in well under 100 ms.
    world, a, b, q = _pair("100mbit", "codel")
    sock = UdpSocket(a, 5000, "burst")
    for _ in range(300):
        sock.sendto(b.addr, 9, 1500)
    world.run(500_000_000)
    assert q.drops == 0 and q.ops.vars.first_above_time == 0
    assert sock.metrics.delay_percentiles()["max_ms"] > 30  # the burst did sit above target
    world.check_conservation()


def test_no_drop_with_one_mtu_or_less_queued() -> None:
    # 1 Mbit/s link, 1500 B every 12 ms plus one extra: one packet always waits
    # ~12 ms (> target), but the backlog behind the head is <= 1 MTU.
    world, a, b, q = _pair("1mbit", "codel")
    sock = UdpSocket(a, 5000, "lead")
    sock.sendto(b.addr, 9, 1500)
    src = CbrSource(a, b.addr, 9, "steady", rate="1mbit", size=1500, stop="1s")
    world.run(1_200_000_000)
    assert src.metrics.delay_percentiles()["p50_ms"] > 5 + 12
    assert q.drops == 0
    world.check_conservation()


def _send_ect(world: World, sock: UdpSocket, dst: int, gap_ns: int, n: int) -> None:
    for i in range(n):
        world.sched.call_at(i * gap_ns, _send_one, (sock, dst))


def _send_one(arg: tuple[UdpSocket, int]) -> None:
    sock, dst = arg
    sock.sendto(dst, 9, 1500, ecn=INET_ECN_ECT_0)


class _CeCounter:
    def __init__(self, node: object) -> None:
        self.ce = self.packets = 0
        from qdisclab.traffic.udp import UdpStack

        UdpStack.of(node).bind(10, self)

    def receive(self, skb: object) -> None:
        from qdisclab.skb import skb_consume

        self.packets += 1
        self.ce += skb.ecn == INET_ECN_CE
        skb_consume(skb)


def test_ecn_marks_instead_of_dropping() -> None:
    world, a, b, q = _pair("10mbit", "codel ecn limit 10000")
    sock = UdpSocket(a, 5000, "ect")
    sink = _CeCounter(b)
    for i in range(600):  # 12 Mbit/s offered into 10 Mbit/s for 0.6 s
        world.sched.call_at(i * 1_000_000, _send_to_10, (sock, b.addr))
    world.run(2_000_000_000)
    assert q.drops == 0
    assert q.ops.stats.ecn_mark > 0 and sink.ce == q.ops.stats.ecn_mark
    assert sink.packets == 600
    world.check_conservation()


def test_ce_threshold_marks_without_ecn_option() -> None:
    world, a, b, q = _pair("10mbit", "codel ce_threshold 1ms limit 10000")
    sock = UdpSocket(a, 5000, "ect")
    sink = _CeCounter(b)
    for i in range(100):
        world.sched.call_at(i * 1_000_000, _send_to_10, (sock, b.addr))
    world.run(1_000_000_000)
    assert sink.ce == q.ops.stats.ce_mark > 0
    assert q.drops == 0
    world.check_conservation()


def _send_to_10(arg: tuple[UdpSocket, int]) -> None:
    sock, dst = arg
    sock.sendto(dst, 10, 1500, ecn=INET_ECN_ECT_0)


def test_tail_drop_at_limit_and_reset_frees() -> None:
    world, a, b, q = _pair("1mbit", "codel limit 10")
    sock = UdpSocket(a, 5000, "burst")
    for _ in range(20):
        sock.sendto(b.addr, 9, 1500)
    assert q.ops.drop_overlimit == 9 and q.qlen == 10  # one went straight onto the wire
    q.reset()
    assert q.qlen == 0 and q.backlog == 0
    assert q.drop_reasons.get("qdisc_reset") == 10
    world.run(100_000_000)
    world.check_conservation()


def test_control_law_is_reciprocal_scale() -> None:
    assert control_law(10, ms_to_codel(100), REC_INV_SQRT_INIT) == 10 + 97654
