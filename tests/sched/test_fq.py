"""fq (net/sched/sch_fq.c): EDT pacing, socket pacing, horizon, per-flow limit, fairness, GC, scale."""

from __future__ import annotations

from typing import Any

from qdisclab.measure import jain_index
from qdisclab.net import World
from qdisclab.sched import create_qdisc
from qdisclab.skb import IPPROTO_UDP, TC_PRIO_CONTROL, SkBuff, skb_consume
from qdisclab.traffic import CbrSource, UdpSink
from qdisclab.traffic.udp import UdpStack

MS = 1_000_000


def _pair(rate: str, qdisc: str, seed: int = 5) -> tuple[World, Any, Any, Any]:
    world = World(seed=seed)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, rate, "1ms", qdisc_a=qdisc)
    world.build_routes()
    return world, a, b, link.a


class _Sock:
    """A socket stand-in: identity is the flow key; optional pacing rate in bytes/s."""

    __slots__ = ("sk_pacing_rate",)

    def __init__(self, rate: int = 0) -> None:
        self.sk_pacing_rate = rate


class _Recorder:
    """Records (tstamp, arrival time) of every packet received on a port."""

    def __init__(self, node: Any, port: int) -> None:
        self.sched = node.sched
        self.seen: list[tuple[Any, int]] = []
        UdpStack.of(node).bind(port, self)

    def receive(self, skb: SkBuff) -> None:
        self.seen.append((skb, self.sched.now))
        skb_consume(skb)


def _skb(world: World, books: Any, a: Any, b: Any, sk: Any = None, size: int = 1500,
         sport: int = 1000, dport: int = 9) -> SkBuff:  # fmt: skip
    skb = SkBuff(size, a.addr, b.addr, sport, dport, IPPROTO_UDP, world.now, books, sk)
    books.book_sent(skb)
    return skb


def test_defaults_from_mtu_and_options() -> None:
    _world, _a, _b, dev = _pair("10mbit", "fq")
    q = dev.qdisc
    ops = q.ops
    # psched_mtu counts the 14-byte Ethernet header: 2 * 1514 and 10 * 1514.
    assert (q.limit, ops.flow_plimit, ops.quantum, ops.initial_quantum) == (10000, 100, 3028, 15140)
    assert (ops.flow_refill_delay, ops.horizon, ops.horizon_drop) == (40 * MS, 10**10, True)
    assert (ops.orphan_mask, ops.timer_slack) == (1023, 10_000)
    q2 = create_qdisc("fq horizon_cap quantum 1514 maxrate 8mbit", dev)
    assert (q2.ops.horizon_drop, q2.ops.quantum, q2.ops.flow_max_rate) == (False, 1514, 1_000_000)


def test_packets_leave_no_earlier_than_their_tstamp() -> None:
    world, a, b, dev = _pair("1gbit", "fq")
    rec = _Recorder(b, 9)
    books = world.flow_books("edt")
    sk = _Sock()
    dev.busy_until = MS // 2  # queue them all before the first dequeue
    # Timestamps out of order, so the flow's out-of-order tree is exercised too.
    stamps = [5 * MS, 1 * MS, 3 * MS, 2 * MS, 4 * MS, 7 * MS, 6 * MS]
    for t in stamps:
        skb = _skb(world, books, a, b, sk)
        skb.tstamp = t
        dev.xmit(skb)
    world.run(100 * MS)
    wire = 1500 * 8  # ns at 1 Gbit/s
    departures = [(skb.tstamp, now - 1 * MS - wire) for skb, now in rec.seen]
    assert [t for t, _ in departures] == sorted(stamps)
    for tstamp, left in departures:
        assert tstamp <= left <= tstamp + 10_000 + 1000  # within the watchdog's timer slack
    world.check_conservation()


def test_horizon_drop_and_cap() -> None:
    world, a, b, dev = _pair("1gbit", "fq")
    rec = _Recorder(b, 9)
    books = world.flow_books("far")
    skb = _skb(world, books, a, b, _Sock())
    skb.tstamp = 11 * 10**9
    dev.xmit(skb)
    assert dev.qdisc.drop_reasons == {"fq_horizon_limit": 1}
    assert dev.qdisc.ops.stat_horizon_drops == 1
    dev.set_qdisc(create_qdisc("fq horizon 1s horizon_cap", dev))
    skb = _skb(world, books, a, b, _Sock())
    skb.tstamp = 5 * 10**9
    dev.xmit(skb)
    assert skb.tstamp == 10**9 and dev.qdisc.ops.stat_horizon_caps == 1
    world.run(2 * 10**9)
    assert len(rec.seen) == 1 and rec.seen[0][1] >= 10**9
    world.check_conservation()


def test_flow_limit_drops_per_flow() -> None:
    world, a, b, dev = _pair("1gbit", "fq flow_limit 100")
    UdpSink(b, 9)
    dev.busy_until = 10**15  # keep everything queued
    books = world.flow_books("heavy")
    sk, other = _Sock(), _Sock()
    for _ in range(150):
        dev.xmit(_skb(world, books, a, b, sk))
    dev.xmit(_skb(world, books, a, b, other))
    q = dev.qdisc
    assert q.qlen == 101 and q.drop_reasons == {"fq_flow_limit": 50}
    assert q.ops.stat_flows_plimit == 50
    q.reset()
    assert q.qlen == 0
    world.check_conservation()


def test_fairness_between_socket_flows() -> None:
    world, a, b, dev = _pair("10mbit", "fq")
    UdpSink(b, 9)
    rates = ["3mbit", "5mbit", "8mbit", "12mbit"]
    srcs = [
        CbrSource(a, b.addr, 9, f"f{i}", rate=r, size=1500, stop="2s") for i, r in enumerate(rates)
    ]
    world.run(2_000_000_000)
    shares = [s.metrics.throughput_bps(500 * MS, 2000 * MS) for s in srcs]
    assert jain_index(shares) > 0.99
    for share in shares:
        assert abs(share - 2.5e6) < 0.05 * 2.5e6
    assert dev.qdisc.drop_reasons.get("fq_flow_limit", 0) > 0
    world.check_conservation()


def _send_paced(arg: tuple[World, Any, Any, Any, Any, Any]) -> None:
    world, dev, books, a, b, sk = arg
    dev.xmit(_skb(world, books, a, b, sk))


def test_socket_pacing_rate_and_maxrate() -> None:
    world, a, b, dev = _pair("100mbit", "fq")
    rec = _Recorder(b, 9)
    paced, capped = _Sock(125_000), _Sock(0)  # 1 Mbit/s; unpaced socket
    dev.set_qdisc(create_qdisc("fq maxrate 2mbit", dev))
    for i in range(400):  # each socket offers 12 Mbit/s for 400 ms
        for sk, name in ((paced, "paced"), (capped, "capped")):
            arg = (world, dev, world.flow_books(name), a, b, sk)
            world.sched.call_at(i * MS, _send_paced, arg)
    world.run(1_000 * MS)
    for sk, want in ((paced, 1e6), (capped, 2e6)):
        times = [now for skb, now in rec.seen if skb.sk is sk and 100 * MS <= now < 400 * MS]
        rate = len(times) * 1500 * 8 / 0.3
        assert abs(rate - want) < 0.05 * want
        # Paced in slots of one quantum (3000 B, two packets): never 3 packets in a slot.
        slot = 3000 * 8 * 10**9 // int(want)
        assert all(t2 - t0 >= slot * 0.99 for t0, t2 in zip(times, times[2:], strict=False))
    world.check_conservation()


def test_control_packets_bypass_paced_flows() -> None:
    world, a, b, dev = _pair("1gbit", "fq")
    rec = _Recorder(b, 9)
    books = world.flow_books("x")
    late = _skb(world, books, a, b, _Sock())
    late.tstamp = 50 * MS
    dev.xmit(late)
    ctl = _skb(world, books, a, b, _Sock())
    ctl.priority = TC_PRIO_CONTROL
    dev.xmit(ctl)
    world.run(100 * MS)
    assert [s for s, _ in rec.seen] == [ctl, late]
    assert dev.qdisc.ops.stat_internal_packets == 1
    world.check_conservation()


def test_gc_removes_flows_idle_for_three_seconds_eight_at_a_time() -> None:
    world, a, b, dev = _pair("10gbit", "fq")
    UdpSink(b, 9)
    books = world.flow_books("many")
    for _i in range(3000):
        dev.xmit(_skb(world, books, a, b, _Sock(), size=100))
    world.run(100 * MS)
    q = dev.qdisc.ops
    # Flows are detached only when a dequeue finds them empty.
    assert q.flows == 3000 and q.inactive_flows >= 2999
    world.run(2 * 10**9)
    dev.xmit(_skb(world, books, a, b, _Sock(), size=100))
    assert q.flows == 3001 and q.stat_gc_flows == 0  # idle for under 3 s: kept
    world.run(3_200 * MS)
    dev.xmit(_skb(world, books, a, b, _Sock(), size=100))
    assert q.flows == 3002 - 8 and q.stat_gc_flows == 8
    world.run(4 * 10**9)
    world.check_conservation()


def test_ten_thousand_flows() -> None:
    world, a, b, dev = _pair("10gbit", "fq limit 100000")
    sink = UdpSink(b, 9)
    books = world.flow_books("many")
    socks = [_Sock() for _ in range(10_000)]
    for _round in range(3):
        for sk in socks:
            dev.xmit(_skb(world, books, a, b, sk, size=500))
    q = dev.qdisc
    world.run(10**9)
    assert sink.packets == 30_000 and q.qlen == 0 and q.ops.flows == 10_000
    world.check_conservation()


def test_fq_runs_with_ownership_checks_off() -> None:
    """Per-flow queues created inside enqueue must know their instance under policy off too."""
    from qdisclab.net import World
    from qdisclab.traffic import CbrSource, UdpSink

    world = World(seed=2, policy="off")
    a, b = world.add_host("A"), world.add_host("B")
    world.connect(a, b, "10mbit", "1ms", qdisc_a="fq")
    world.build_routes()
    UdpSink(b, 9)
    for i in range(3):
        CbrSource(a, b.addr, 9, f"f{i}", rate="5mbit", size=1000, stop="200ms", sport=100 + i)
    world.run(400_000_000)
    assert world.ledger.delivered > 100
    assert world.check_conservation()["in_flight"] == 0


def test_a_long_run_of_short_flows_holds_a_bounded_number_of_collections() -> None:
    """fq keeps no pool of collected flows: their empty lists leave the instance's storage."""
    world, a, b, dev = _pair("10gbit", "fq buckets 16")
    sink = UdpSink(b, 9)
    books = world.flow_books("short")
    q = dev.qdisc
    most = 0
    for tick in range(3000):  # 30 s: a new two-packet flow every 10 ms
        world.run(tick * 10 * MS)
        sk = _Sock()
        for _ in range(2):
            dev.xmit(_skb(world, books, a, b, sk, size=200))
        most = max(most, len(q.storage))
    world.run(31 * 10**9)
    assert sink.packets == 6000 and q.qlen == 0
    # Flows idle for 3 s are collected (at most 8 per new flow once the table is past
    # 2 * buckets); about 300 stay alive. Without a lifetime every flow's list would stay.
    assert q.ops.stat_gc_flows > 2500
    assert most < 1000, most
    world.check_conservation()
