"""fq_codel (RFC 8290): flow isolation, sparse-flow priority, fairness, fat-flow head drops."""

from __future__ import annotations

import pytest

from qdisclab.errors import UserError
from qdisclab.measure import jain_index
from qdisclab.net import World
from qdisclab.sched import NET_XMIT_CN, NET_XMIT_SUCCESS, create_qdisc
from qdisclab.skb import FREED, IPPROTO_UDP, SkBuff
from qdisclab.traffic import CbrSource, UdpSink


def _pair(rate: str, qdisc: str) -> tuple[World, object, object, object]:
    world = World(seed=11)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, rate, "1ms", qdisc_a=qdisc)
    world.build_routes()
    UdpSink(b, 9)
    return world, a, b, link.a


def test_defaults_and_options() -> None:
    _world, _a, _b, dev = _pair("10mbit", "fq_codel")
    q = dev.qdisc
    text = q.describe()
    for part in ("limit 10240p", "flows 1024", "quantum 1514 ", "target 5ms", "interval 100ms",
                 "ecn", "memory_limit 32Mb", "drop_batch 64"):  # fmt: skip
        assert part in text
    assert q.limit == 10240 and q.ops.cparams.ecn and len(q.ops.flows) == 1024
    # tc sends no 0: "flows 0" leaves the kernel's default, as with iproute2.
    assert len(create_qdisc("fq_codel flows 0", dev).ops.flows) == 1024
    with pytest.raises(UserError, match="Invalid argument"):
        create_qdisc("fq_codel flows 65537", dev)


def test_sparse_flow_sees_near_zero_queueing_beside_bulk_flows() -> None:
    world, a, b, _dev = _pair("10mbit", "fq_codel")
    bulk = [
        CbrSource(a, b.addr, 9, f"bulk{i}", rate="5mbit", size=1500, stop="3s") for i in range(4)
    ]
    # One 100 B packet per 100 ms, once the bulk flows are backlogged (the RFC's steady state).
    sparse = CbrSource(a, b.addr, 9, "sparse", rate="8kbit", size=100, start="505ms", stop="3s")
    world.run(3_100_000_000)
    # Base delay: 1 ms propagation + its own 80 us serialisation + at most one
    # 1500 B packet already on the wire (1.2 ms) = 2.28 ms.
    sparse_max = sparse.metrics.delay_percentiles()["max_ms"]
    assert sparse.metrics.delays and len(sparse.metrics.delays) == sparse.sent == 25
    assert sparse_max < 2.3
    # The bulk flows queue at about CoDel's target.
    for src in bulk:
        assert src.metrics.delay_percentiles()["p50_ms"] > 4
    world.check_conservation()


def test_bulk_flows_get_equal_shares() -> None:
    world, a, b, dev = _pair("10mbit", "fq_codel")
    rates = ["3mbit", "5mbit", "8mbit", "12mbit"]  # all above the 2.5 Mbit/s fair share
    srcs = [
        CbrSource(a, b.addr, 9, f"f{i}", rate=r, size=1500, stop="3s") for i, r in enumerate(rates)
    ]
    world.run(3_000_000_000)
    shares = [s.metrics.throughput_bps(1_000_000_000, 3_000_000_000) for s in srcs]
    assert jain_index(shares) > 0.99
    for share in shares:
        assert abs(share - 2.5e6) < 0.05 * 2.5e6
    assert dev.qdisc.drop_reasons.get("codel", 0) > 0
    world.check_conservation()


def _skb(world: World, books: object, src: int, dst: int, sport: int) -> SkBuff:
    skb = SkBuff(1500, src, dst, sport, 9, IPPROTO_UDP, world.now, books)
    books.book_sent(skb)
    return skb


def test_overflow_drops_from_the_head_of_the_fattest_flow() -> None:
    world, a, b, dev = _pair("10mbit", "pfifo")
    q = dev.set_qdisc(create_qdisc("fq_codel limit 10 drop_batch 64", dev))
    dev.busy_until = 10**15  # the wire is busy: everything stays queued
    fat, thin = world.flow_books("fat"), world.flow_books("thin")
    fat_skbs = [_skb(world, fat, a.addr, b.addr, 1000) for _ in range(8)]
    thin_skbs = [_skb(world, thin, a.addr, b.addr, 2000) for _ in range(3)]
    for skb in fat_skbs + thin_skbs[:2]:
        assert dev.xmit(skb) == NET_XMIT_SUCCESS
    assert q.qlen == 10
    # The 11th packet overflows: the fat flow (12000 B) loses half its backlog,
    # 4 packets, from its head; the new packet is queued.
    assert dev.xmit(thin_skbs[2]) == NET_XMIT_SUCCESS
    assert [s.owner is FREED for s in fat_skbs] == [True] * 4 + [False] * 4
    assert all(s.owner is not FREED for s in thin_skbs)
    assert q.qlen == 7 and q.drops == 4 and q.ops.drop_overlimit == 4
    assert q.drop_reasons == {"qdisc_overlimit": 4}
    fat_bucket = (fat_skbs[0].get_hash(q.hash_seed) * q.ops.flows_cnt) >> 32  # reciprocal_scale
    assert q.ops.flows[fat_bucket].cvars.count == 4
    world.check_conservation()
    q.reset()
    assert q.qlen == 0 and q.backlog == 0
    world.check_conservation()


def test_overflow_from_own_flow_returns_cn_and_respects_drop_batch() -> None:
    world, a, b, dev = _pair("10mbit", "pfifo")
    q = dev.set_qdisc(create_qdisc("fq_codel limit 20 drop_batch 3", dev))
    dev.busy_until = 10**15
    books = world.flow_books("one")
    rets = [dev.xmit(_skb(world, books, a.addr, b.addr, 1000)) for _ in range(21)]
    assert rets[:20] == [NET_XMIT_SUCCESS] * 20 and rets[20] == NET_XMIT_CN
    assert q.qlen == 18 and q.drops == 3  # batch of 3 < half the backlog
    q.reset()
    world.check_conservation()


def test_memory_limit_triggers_drops() -> None:
    world, a, b, dev = _pair("10mbit", "pfifo")
    q = dev.set_qdisc(create_qdisc("fq_codel memory_limit 6000", dev))
    dev.busy_until = 10**15
    books = world.flow_books("m")
    for _ in range(5):
        dev.xmit(_skb(world, books, a.addr, b.addr, 1000))
    assert q.ops.drop_overmemory > 0 and q.backlog <= 6000
    q.reset()
    world.check_conservation()


def test_new_flow_is_served_before_old_flows() -> None:
    world, a, b, dev = _pair("10mbit", "pfifo")
    q = dev.set_qdisc(create_qdisc("fq_codel", dev))
    dev.busy_until = 10**15
    old, new = world.flow_books("old"), world.flow_books("new")
    for _ in range(5):
        dev.xmit(_skb(world, old, a.addr, b.addr, 1000))
    # The old flow spends its quantum (1514 B: two 1500 B packets) ...
    for _ in range(2):
        first = q.dequeue()
        assert first.flow is old
        dev.start_xmit(first)
    dev.busy_until = 10**15
    dev.xmit(_skb(world, new, a.addr, b.addr, 2000))
    second = q.dequeue()
    assert second.flow is new  # the newly active flow jumps the queue
    dev.start_xmit(second)
    q.reset()
    world.run(10**9)
    world.check_conservation()
