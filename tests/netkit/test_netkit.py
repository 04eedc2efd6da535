"""netkit: D.7 selftest scenarios, policies, scrub, peer EACCES, and netkit vs veth latency."""

from __future__ import annotations

import errno

import pytest

from qdisclab.errors import KernelError
from qdisclab.mprog import BPF_NETKIT_PEER, BPF_NETKIT_PRIMARY, BPF_TCX_INGRESS
from qdisclab.net import World
from qdisclab.netkit import (
    DROP_BACKLOG,
    DROP_NETKIT,
    NETKIT_DROP,
    NETKIT_NEXT,
    NETKIT_PASS,
    create_pair,
    create_veth_pair,
    netkit_hook,
)
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume


class Env:
    """Host H (primary nk1) and container C (peer nk0), with sinks recording arrivals."""

    def __init__(self, mode="l3", **kw):
        self.world = w = World(seed=5)
        self.h, self.c = w.add_host("H"), w.add_host("C")
        self.pair = create_pair(w, self.h, self.c, name="nk", mode=mode, **kw)
        w.build_routes()
        self.got: list[tuple[str, SkBuff]] = []
        for node in (self.h, self.c):
            node.register_protocol(IPPROTO_UDP, self._handler(node.name))
        self.books = w.flow_books("f")

    def _handler(self, name):
        env = self

        class H:
            def receive(self, skb):
                env.got.append((name, skb))
                skb_consume(skb)

        return H()

    def send(self, src, dst, mark=0, priority=0):
        skb = SkBuff(100, src.addr, dst.addr, 1, 2, IPPROTO_UDP, created=self.world.now,
                     flow=self.books, priority=priority)  # fmt: skip
        skb.mark = mark
        self.books.book_sent(skb)
        before = len(self.got)
        src.output(skb)
        self.world.run()
        self.world.check_conservation()
        return [n for n, _ in self.got[before:]]

    def ping(self, seen):
        """Echo request H -> C and the reply C -> H (the selftests' ping)."""
        seen.clear()
        there = self.send(self.h, self.c)
        back = self.send(self.c, self.h)
        return there + back, list(seen)


def rec(pair, seen, name, ret=NETKIT_NEXT):
    def f(ctx):
        seen.append(name)
        return ret

    return pair.load(f, name=name)


def expect(code, fn, *a, **kw):
    with pytest.raises(KernelError) as e:
        fn(*a, **kw)
    assert e.value.errno == code


def test_basic():
    env = Env()
    pair, seen = env.pair, []
    tc1, tc2 = rec(pair, seen, "tc1"), rec(pair, seen, "tc2")
    l1 = pair.primary_hook.link(tc1)
    assert pair.primary_hook.query().count == 1 and pair.peer_hook.query().count == 0
    q = pair.primary_hook.query()
    assert (q.count, q.revision, q.prog_ids, q.link_ids) == (1, 2, (tc1.id,), (l1.id,))
    arrived, ran = env.ping(seen)
    assert arrived == ["C", "H"] and ran == ["tc1"]  # PRIMARY runs on H -> C only
    l2 = pair.peer_hook.link(tc2)
    assert pair.peer_hook.query().revision == 2
    arrived, ran = env.ping(seen)
    assert arrived == ["C", "H"] and ran == ["tc1", "tc2"]  # tc2 sees the reply leaving C
    l1.close()
    l2.close()
    assert pair.primary_hook.query().count == 0 and pair.peer_hook.query().count == 0


@pytest.mark.parametrize("mode", ["l2", "l3"])
@pytest.mark.parametrize("target", [BPF_NETKIT_PRIMARY, BPF_NETKIT_PEER])
@pytest.mark.parametrize("api", ["links", "opts"])
def test_multi(mode, target, api):
    env = Env(mode)
    pair, seen = env.pair, []
    hook = netkit_hook(env.world, pair.primary.ifindex, target)
    tc1, tc2 = rec(pair, seen, "tc1"), rec(pair, seen, "tc2")
    if api == "links":
        hook.link(tc1)
        hook.link(tc2, before=tc1)
    else:
        hook.attach(tc1)
        hook.attach(tc2, before=tc1)
    q = hook.query()
    assert q.prog_ids == (tc2.id, tc1.id) and q.count == 2 and q.revision == 3
    _, ran = env.ping(seen)
    assert ran == ["tc2", "tc1"]
    if api == "opts":
        hook.detach(tc2)
        assert hook.query().count == 1
        hook.detach(tc1)
        assert hook.query().count == 0


def test_persistent_revision_across_empty_periods():
    env = Env()
    hook = env.pair.primary_hook
    p = env.pair.load(lambda ctx: NETKIT_NEXT)
    hook.attach(p)
    hook.detach(p)
    assert hook.query().revision == 1  # no active entry: reports 1 ...
    expect(errno.ESTALE, hook.attach, p, expected_revision=1)  # ... but the bundle is at 3
    hook.attach(p, expected_revision=3)
    assert hook.query().revision == 4
    expect(errno.ENOENT, env.pair.peer_hook.detach)  # empty: no active entry


def test_device_peer_and_non_netkit_targets():
    env = Env()
    pair, w = env.pair, env.world
    pair.primary_hook.link(pair.load(lambda ctx: NETKIT_NEXT))
    for at in (BPF_NETKIT_PRIMARY, BPF_NETKIT_PEER):
        expect(errno.EACCES, netkit_hook, w, pair.peer.ifindex, at)  # query/attach/link
    expect(errno.EINVAL, netkit_hook, w, pair.primary.ifindex, BPF_TCX_INGRESS)
    expect(errno.ENODEV, netkit_hook, w, 999, BPF_NETKIT_PRIMARY)
    other = w.connect(env.h, env.c)
    expect(errno.ENXIO, netkit_hook, w, other.a.ifindex, BPF_NETKIT_PRIMARY)
    expect(errno.EACCES, pair.change, pair.peer, policy="blackhole")
    expect(errno.EACCES, pair.change, mode="l2")


def test_l3_has_no_mac_l2_does():
    expect(errno.EOPNOTSUPP, Env("l3").pair.primary.set_mac, 0x0200_0000_0001)
    env = Env("l2")
    assert env.pair.primary.nk.mac & 0x02 and env.pair.peer.nk.mac
    env.pair.primary.set_mac(0x0200_0000_0001)
    assert env.pair.primary.nk.mac == 0x0200_0000_0001


@pytest.mark.parametrize(("policy", "peer_policy"), [("pass", "pass"), ("blackhole", "pass"),
                                                     ("pass", "blackhole")])  # fmt: skip
def test_policy_applies_only_without_programs(policy, peer_policy):
    env = Env(policy=policy, peer_policy=peer_policy)
    pair = env.pair
    there = env.send(env.h, env.c)
    back = env.send(env.c, env.h)
    assert there == ([] if policy == "blackhole" else ["C"])
    assert back == ([] if peer_policy == "blackhole" else ["H"])
    drops = (policy == "blackhole") + (peer_policy == "blackhole")
    assert env.world.ledger.dropped.get(DROP_NETKIT, 0) == drops
    assert pair.primary.nk.tx_dropped + pair.peer.nk.tx_dropped == drops
    # with a program attached, NEXT from every program means PASS, whatever the policy
    pair.primary_hook.attach(pair.load(lambda ctx: NETKIT_NEXT))
    pair.peer_hook.attach(pair.load(lambda ctx: NETKIT_NEXT))
    assert env.send(env.h, env.c) == ["C"] and env.send(env.c, env.h) == ["H"]
    pair.change(policy="blackhole", peer_policy="pass")
    assert pair.primary.nk.policy == NETKIT_DROP and pair.peer.nk.policy == NETKIT_PASS


def test_program_verdicts_drop_and_unknown():
    env = Env()
    pair = env.pair
    p = pair.load(lambda ctx: 5, name="reserved")  # any other value drops (D.4 step 6)
    pair.primary_hook.attach(p)
    assert env.send(env.h, env.c) == []
    pair.primary_hook.attach(pair.load(lambda ctx: NETKIT_DROP), replace=p)
    assert env.send(env.h, env.c) == []
    assert env.world.ledger.dropped == {DROP_NETKIT: 2}


def test_redirect_verdict():
    """A PRIMARY program redirects into H's own ingress: the packet never reaches C."""
    env = Env()
    pair = env.pair
    target = pair.primary.ifindex

    def prog(ctx):
        from qdisclab.tcx import BPF_F_INGRESS, bpf_redirect

        return bpf_redirect(target, BPF_F_INGRESS)

    pair.primary_hook.attach(pair.load(prog))
    skb = SkBuff(100, env.h.addr, env.h.addr, 1, 2, IPPROTO_UDP, created=0, flow=env.books)
    env.books.book_sent(skb)
    pair.primary.xmit(skb)
    assert [n for n, _ in env.got] == ["H"] and pair.primary.tx_packets == 1


@pytest.mark.parametrize(("scrub", "expect_mark"), [("default", (0, 0)), ("none", (42, 0xEB9F))])
def test_scrub(scrub, expect_mark):
    env = Env(scrub=scrub)
    seen: list[tuple[int, int]] = []

    def tc8(ctx):
        seen.append((ctx.mark, ctx.priority))
        return NETKIT_PASS

    env.pair.primary_hook.link(env.pair.load(tc8, name="tc8"))
    assert env.send(env.h, env.c, mark=42, priority=0xEB9F) == ["C"]
    assert seen == [expect_mark]
    assert (env.got[-1][1].mark, env.got[-1][1].priority) == expect_mark


def test_delete_makes_links_defunct_and_devices_gone():
    env = Env()
    pair = env.pair
    l1 = pair.primary_hook.link(pair.load(lambda ctx: NETKIT_NEXT))
    l2 = pair.peer_hook.link(pair.load(lambda ctx: NETKIT_NEXT))
    assert l1.ifindex == l2.ifindex == pair.primary.ifindex
    assert "attach_type:\tpeer" in l2.fdinfo()
    pair.delete()
    assert l1.ifindex == 0 and l2.info()["ifindex"] == 0
    expect(errno.ENOLINK, l1.update, pair.load(lambda ctx: 0))
    l1.close()
    expect(errno.ENODEV, netkit_hook, env.world, pair.primary.ifindex, BPF_NETKIT_PRIMARY)
    assert env.send(env.h, env.c) == []


def _latency(kind: str, pkts: int = 200, gap: int = 50_000) -> list[int]:
    """Per-packet one-way delay (ns) of ``pkts`` packets sent every ``gap`` ns."""
    w = World(seed=1)
    a, b = w.add_host("A"), w.add_host("B")
    (create_pair if kind == "netkit" else create_veth_pair)(w, a, b, name=kind)
    w.build_routes()
    delays: list[int] = []

    class Sink:
        def receive(self, skb):
            delays.append(w.now - skb.created)
            skb_consume(skb)

    b.register_protocol(IPPROTO_UDP, Sink())
    books = w.flow_books("f")

    def send(i):
        skb = SkBuff(1000, a.addr, b.addr, 1, 2, IPPROTO_UDP, created=w.now, flow=books)
        books.book_sent(skb)
        a.output(skb)

    for i in range(pkts):
        w.sched.call_at(i * gap, send, i)
    w.run(pkts * gap // 2)
    w.check_conservation()  # with packets still in the backlog
    w.run()
    assert w.check_conservation()["in_flight"] == 0
    return delays


def test_netkit_adds_less_latency_than_veth():
    nk, veth = _latency("netkit"), _latency("veth")
    assert len(nk) == len(veth) == 200
    assert max(nk) == 0  # handed straight to the peer's stack
    assert set(veth) == {20_000}  # each waits for the softirq tick (SOFTIRQ_LATENCY_NS)
    # packets closer than the softirq latency share a poll: later ones wait less
    dense = _latency("veth", gap=5_000)
    assert max(dense) == 20_000 and len(set(dense)) > 1
    assert sum(nk) / len(nk) < sum(dense) / len(dense)


def test_veth_backlog_batches_and_overflow():
    w = World(seed=1)
    a, b = w.add_host("A"), w.add_host("B")
    pair = create_veth_pair(w, a, b, max_backlog=100)
    w.build_routes()
    arrivals: list[int] = []

    class Sink:
        def receive(self, skb):
            arrivals.append(w.now)
            skb_consume(skb)

    b.register_protocol(IPPROTO_UDP, Sink())
    books = w.flow_books("f")
    for _ in range(150):  # a burst at t=0
        skb = SkBuff(100, a.addr, b.addr, 1, 2, IPPROTO_UDP, created=0, flow=books)
        books.book_sent(skb)
        a.output(skb)
    assert pair.backlog.held_packets() == 100
    assert w.ledger.dropped == {DROP_BACKLOG: 50}
    w.run()
    # 100 packets: 64 at the first softirq poll, 36 at the next
    assert arrivals.count(20_000) == 64 and arrivals.count(40_000) == 36
    assert pair.backlog.polls == 2
