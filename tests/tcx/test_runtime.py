"""tcx datapath: return codes, reserved values, redirects, classic fallback, counters."""

from __future__ import annotations

import pytest

from qdisclab.skb import DROP_TCX, ETH_HLEN
from qdisclab.tcx import (
    BPF_F_INGRESS,
    DROP_TC_STOLEN,
    DROP_TCX_REDIRECT,
    TC_ACT_OK,
    TC_ACT_REDIRECT,
    TC_ACT_SHOT,
    TC_ACT_STOLEN,
    TC_ACT_UNSPEC,
    TCX_DROP,
    TCX_NEXT,
    TCX_PASS,
    Tcx,
    bpf_redirect,
)


def rec(seen: list[str], name: str, ret: int):
    def prog(ctx) -> int:
        seen.append(name)
        return ret

    return prog


def test_empty_device_pays_nothing_and_hook_goes_away_again(net):
    dev = net.ab.a
    tcx = Tcx.of(dev)
    assert dev.egress_hook is None and dev.ingress_hook is None
    p = tcx.load(lambda ctx: TCX_NEXT)
    tcx.egress.attach(p)
    assert dev.egress_hook is not None and dev.ingress_hook is None
    tcx.egress.detach(p)
    assert dev.egress_hook is None
    link = tcx.ingress.link(p)
    assert dev.ingress_hook is not None
    link.detach()
    assert dev.ingress_hook is None


@pytest.mark.parametrize(
    ("ret", "arrived", "ran_second"),
    [
        (TCX_NEXT, ["C"], True),
        (TCX_PASS, ["C"], False),
        (TCX_DROP, [], False),
        # reserved values stop the chain but act like NEXT (spec 7.1)
        (1, ["C"], False),
        (3, ["C"], False),
        (4, ["C"], False),
        (5, ["C"], False),
        (6, ["C"], False),
        (8, ["C"], False),
        (-2, ["C"], False),
    ],
)
def test_return_codes(net, ret, arrived, ran_second):
    tcx = Tcx.of(net.ab.a)
    seen: list[str] = []
    tcx.egress.attach(tcx.load(rec(seen, "first", ret)))
    tcx.egress.attach(tcx.load(rec(seen, "second", TCX_NEXT)))
    assert net.send() == arrived
    assert seen == (["first", "second"] if ran_second else ["first"])
    assert net.world.ledger.dropped.get(DROP_TCX, 0) == (1 if ret == TCX_DROP else 0)
    assert tcx.egress.stats.drop == (1 if ret == TCX_DROP else 0)


@pytest.mark.parametrize("ret", [1, 3, 5, 99])
def test_unknown_code_runs_classic_filter(net, ret):
    tcx = Tcx.of(net.ab.a)
    seen: list[str] = []
    tcx.add_qdisc("clsact")
    tcx.egress.add_filter(rec(seen, "classic", TC_ACT_SHOT))
    tcx.egress.attach(tcx.load(rec(seen, "tcx", ret)))
    assert net.send() == []
    assert seen == ["tcx", "classic"]
    assert tcx.egress.stats.classic_drop == 1 and tcx.egress.stats.drop == 0


def test_pass_copies_classid_into_tc_index(net):
    tcx = Tcx.of(net.bc.a)  # B's egress towards C

    def prog(ctx) -> int:
        ctx.tc_classid = 0x10002
        ctx.tc_index = 5  # overwritten by the PASS verdict (tcx_action_code)
        return TCX_PASS

    tcx.egress.attach(tcx.load(prog))
    assert net.send() == ["C"]
    assert net.sink.got[-1][1].tc_index == 0x10002 & 0xFFFF


def test_context_fields(net):
    tcx = Tcx.of(net.bc.b)  # C's ingress
    got = {}

    def prog(ctx) -> int:
        got.update(len=ctx.len, ifindex=ctx.ifindex, iif=ctx.ingress_ifindex,
                   src=ctx.ipv4_src, dst=ctx.ipv4_dst, sport=ctx.sport, dport=ctx.dport,
                   proto=ctx.ip_proto, protocol=ctx.protocol, hash=ctx.hash, data=ctx.data)  # fmt: skip
        ctx.mark = 42
        ctx.priority = 6
        ctx.queue_mapping = 3
        ctx.tstamp = 777
        return TCX_NEXT

    tcx.ingress.attach(tcx.load(prog))
    assert net.send(length=321) == ["C"]
    skb = net.sink.got[-1][1]
    dev = net.bc.b
    assert got == {"len": 321 + ETH_HLEN,  # tc programs see the Ethernet frame
                   "ifindex": dev.ifindex, "iif": dev.ifindex, "src": net.a.addr,
                   "dst": net.c.addr, "sport": 1000, "dport": 5001, "proto": 17,
                   "protocol": 0x0800, "hash": skb.get_hash(dev.hash_seed), "data": None}  # fmt: skip
    assert (skb.mark, skb.priority, skb.queue_mapping, skb.tstamp) == (42, 6, 3, 777)


def test_redirect_to_egress_of_another_device(net):
    """A's egress program sends the packet out of B->C directly: it arrives at C, bypassing B."""
    tcx = Tcx.of(net.ab.a)
    out = net.bc.a
    tcx.egress.attach(tcx.load(lambda ctx: bpf_redirect(out.ifindex, 0)))
    assert net.send(2) == ["C", "C"]
    assert net.ab.a.tx_packets == 0 and out.tx_packets == 2
    assert tcx.egress.stats.redirect_egress == 2 and tcx.egress.stats.redirect_ingress == 0


def test_redirect_to_ingress(net):
    """Redirecting to C's ingress delivers at once, with C's ingress hook running."""
    seen: list[str] = []
    Tcx.of(net.bc.b).ingress.attach(Tcx.of(net.bc.b).load(rec(seen, "c-ingress", TCX_NEXT)))
    tcx = Tcx.of(net.ab.a)
    target = net.bc.b.ifindex
    tcx.egress.attach(tcx.load(lambda ctx: ctx.redirect(target, BPF_F_INGRESS)))
    assert net.send() == ["C"]
    assert seen == ["c-ingress"]
    assert net.world.now == 0  # no wire was crossed
    assert tcx.egress.stats.redirect_ingress == 1


def test_redirect_failures_are_drops_by_reason(net):
    tcx = Tcx.of(net.ab.a)
    tcx.egress.attach(tcx.load(lambda ctx: bpf_redirect(999, 0)))
    assert net.send() == []
    assert net.world.ledger.dropped == {DROP_TCX_REDIRECT: 1}
    assert tcx.egress.stats.redirect_failed == 1
    # bad flags: the helper itself returns a drop
    assert bpf_redirect(1, 0x80) == TCX_DROP


def test_redirect_loop_is_cut(net):
    dev = net.ab.a
    tcx = Tcx.of(dev)
    tcx.egress.attach(tcx.load(lambda ctx: bpf_redirect(dev.ifindex, 0)))  # to itself
    assert net.send() == []
    assert net.world.ledger.dropped == {DROP_TCX_REDIRECT: 1}
    assert tcx.egress.stats.redirect_egress == 8  # XMIT_RECURSION_LIMIT


def test_classic_fallback_order(net):
    """tcx first; classic filters by priority, TC_ACT_UNSPEC continues, the first verdict wins."""
    tcx = Tcx.of(net.bc.b)
    seen: list[str] = []
    tcx.add_qdisc("clsact")
    tcx.ingress.add_filter(rec(seen, "prio3", TC_ACT_SHOT), prio=3)
    tcx.ingress.add_filter(rec(seen, "prio1", TC_ACT_UNSPEC), prio=1)
    tcx.ingress.add_filter(rec(seen, "prio2", TC_ACT_OK), prio=2)
    tcx.ingress.attach(tcx.load(rec(seen, "tcx", TCX_NEXT)))
    assert net.send() == ["C"]
    assert seen == ["tcx", "prio1", "prio2"]
    seen.clear()
    tcx.ingress.del_filter(prio=2)
    assert net.send() == []
    assert seen == ["tcx", "prio1", "prio3"]
    assert tcx.ingress.stats.classic_drop == 1


def test_classic_redirect_and_stolen(net):
    tcx = Tcx.of(net.ab.a)
    tcx.add_qdisc("clsact")
    flt = tcx.egress.add_filter(lambda ctx: bpf_redirect(net.bc.a.ifindex, 0) and TC_ACT_REDIRECT)
    assert net.send() == ["C"]
    assert tcx.egress.stats.classic_redirect == 1
    tcx.egress.del_filter(flt.prio, flt.handle)
    tcx.egress.add_filter(lambda ctx: TC_ACT_STOLEN)
    assert net.send() == []
    assert net.world.ledger.dropped == {DROP_TC_STOLEN: 1}


def test_classic_filters_need_clsact_and_ingress_qdisc_covers_ingress_only(net):
    from qdisclab.errors import KernelError

    tcx = Tcx.of(net.ab.a)
    with pytest.raises(KernelError) as e:
        tcx.ingress.add_filter(lambda ctx: TC_ACT_OK)
    assert e.value.errno == 22
    tcx.add_qdisc("ingress")
    tcx.ingress.add_filter(lambda ctx: TC_ACT_OK)
    with pytest.raises(KernelError):
        tcx.egress.add_filter(lambda ctx: TC_ACT_OK)
    with pytest.raises(KernelError) as e:
        tcx.add_qdisc("clsact")
    assert e.value.errno == 17


def test_stats_by_reason_in_both_directions(net):
    tcx = Tcx.of(net.bc.a)  # router B: ingress from A is on ab.b; egress to C on bc.a
    tin = Tcx.of(net.ab.b)
    tin.ingress.attach(tin.load(lambda ctx: TCX_DROP if ctx.sport % 2 else TCX_NEXT))
    tcx.egress.attach(tcx.load(lambda ctx: TCX_DROP if ctx.sport % 4 == 2 else TCX_PASS))
    assert net.send(8) == ["C", "C"]
    assert tin.ingress.stats.drop == 4 and tcx.egress.stats.drop == 2
    assert net.world.ledger.dropped == {DROP_TCX: 6}
    assert tcx.stats()["egress"]["drop"] == 2
