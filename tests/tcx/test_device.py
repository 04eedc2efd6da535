"""Device-level tcx behaviour of spec sections 7.3, 8 and 11 with real packets ("ping").

The hook-level ordering/errno tables are in tests/mprog; these check what only
a device shows: the lazy entry and its revision, clsact sharing the entry
(miniq_active) in both teardown orders, classic filters running after NEXT,
and device unregister making links defunct.
"""

from __future__ import annotations

import errno

import pytest

from qdisclab.errors import KernelError
from qdisclab.mprog import BPF_F_REPLACE, BPF_NETKIT_PRIMARY, BPF_TCX_EGRESS, BPF_TCX_INGRESS
from qdisclab.tcx import TC_ACT_OK, TCX_NEXT, TCX_PASS, Tcx, tcx_hook

DIRS = ["ingress", "egress"]


def setup(net, direction):
    """The device under test is on the A -> C path in ``direction``; returns (tcx, hook, seen)."""
    dev = net.bc.b if direction == "ingress" else net.ab.a  # C's ingress / A's egress
    tcx = Tcx.of(dev)
    seen: list[str] = []
    return tcx, getattr(tcx, direction), seen


def prog(tcx, seen, name, ret=TCX_NEXT):
    def f(ctx) -> int:
        seen.append(name)
        return ret

    return tcx.load(f, name=name)


def ping(net, seen):
    seen.clear()
    assert net.send() == ["C"]  # traffic keeps flowing at every step
    return list(seen)


def expect(code, fn, *a, **kw):
    with pytest.raises(KernelError) as e:
        fn(*a, **kw)
    assert e.value.errno == code


@pytest.mark.parametrize("direction", DIRS)
def test_entry_freed_and_recreated_restarts_revision(net, direction):
    tcx, hook, seen = setup(net, direction)
    p1, p2 = prog(tcx, seen, "tc1"), prog(tcx, seen, "tc2")
    hook.attach(p1)
    hook.attach(p2)
    assert hook.query().revision == 3
    hook.detach(p2)
    hook.detach(p1)
    assert hook.entry is None and hook.query().revision == 1
    hook.attach(p1, expected_revision=1)  # a fresh entry: revision 1 again
    assert hook.query().revision == 2
    assert ping(net, seen) == ["tc1"]


@pytest.mark.parametrize("direction", DIRS)
def test_clsact_keeps_entry_alive_and_its_revision(net, direction):
    tcx, hook, seen = setup(net, direction)
    p1 = prog(tcx, seen, "tc1")
    tcx.add_qdisc("clsact")
    assert hook.entry is not None and hook.query().count == 0
    expect(errno.ENOENT, hook.detach)  # A16 with clsact: empty list -> ENOENT
    hook.attach(p1)
    hook.detach(p1)
    assert hook.entry is not None  # miniq_active keeps it
    hook.attach(p1, expected_revision=3)  # so the revision went on: 1 -> 2 -> 3
    assert hook.query().revision == 4
    hook.detach(p1)
    tcx.del_qdisc()
    assert hook.entry is None and hook.query().revision == 1


@pytest.mark.parametrize("direction", DIRS)
@pytest.mark.parametrize("chain_tc_old", [False, True])
def test_chain_classic_on_device(net, direction, chain_tc_old):
    """A5/B5: classic tc3 runs after tc1, tc2 (both NEXT) iff clsact + filter exist."""
    tcx, hook, seen = setup(net, direction)
    p1, p2 = prog(tcx, seen, "tc1"), prog(tcx, seen, "tc2")
    tc3 = ["tc3"] if chain_tc_old else []
    if chain_tc_old:
        tcx.add_qdisc("clsact")
        hook.add_filter(lambda ctx: seen.append("tc3") or TC_ACT_OK, prio=1, handle=1)
    hook.attach(p1)
    l2 = hook.link(p2)
    assert hook.query().count == 2
    assert ping(net, seen) == ["tc1", "tc2", *tc3]
    l2.detach()
    assert ping(net, seen) == ["tc1", *tc3]
    hook.detach(p1)
    assert ping(net, seen) == tc3
    if chain_tc_old:
        tcx.del_qdisc()
    assert hook.query().count == 0 and ping(net, seen) == []
    assert tcx.dev.ingress_hook is None and tcx.dev.egress_hook is None


@pytest.mark.parametrize("direction", DIRS)
@pytest.mark.parametrize("use_link", [False, True])
def test_chain_mixed_on_device(net, direction, use_link):
    """A17/B11: classic tc5 (PASS) + tcx tc6 (PASS): tc6 only; tc4 (NEXT): tc4 then tc5."""
    tcx, hook, seen = setup(net, direction)
    tc4, tc6 = prog(tcx, seen, "tc4"), prog(tcx, seen, "tc6", TCX_PASS)
    tcx.add_qdisc("clsact")
    hook.add_filter(lambda ctx: seen.append("tc5") or TC_ACT_OK)
    if use_link:
        link = hook.link(tc6)
    else:
        hook.attach(tc6)
    assert ping(net, seen) == ["tc6"]
    if use_link:
        link.update(tc4)
    else:
        hook.prog_attach(tc4, BPF_F_REPLACE, None, 0, tc6)
    assert hook.query().count == 1
    assert ping(net, seen) == ["tc4", "tc5"]
    if use_link:
        link.detach()
    else:
        hook.detach(tc4)
    assert hook.query().count == 0 and ping(net, seen) == ["tc5"]


@pytest.mark.parametrize(("qdisc", "qdisc_first"), [(True, True), (True, False), (False, False)])
def test_ingress_qdisc_teardown_orders(net, qdisc, qdisc_first):
    """B12: legacy ``ingress`` qdisc + classic tc3 sharing the ingress entry."""
    tcx, hook, seen = setup(net, "ingress")
    tc3 = ["tc3"] if qdisc else []
    if qdisc:
        tcx.add_qdisc("ingress")
        hook.add_filter(lambda ctx: seen.append("tc3") or TC_ACT_OK)
    l1, l2 = hook.link(prog(tcx, seen, "tc1")), hook.link(prog(tcx, seen, "tc2"))
    assert hook.query().count == 2 and ping(net, seen) == ["tc1", "tc2", *tc3]
    l2.detach()
    assert hook.query().count == 1
    if qdisc:
        hook.del_filter()
    assert hook.query().count == 1 and ping(net, seen) == ["tc1"]
    if qdisc and qdisc_first:
        tcx.del_qdisc()
        assert hook.entry is not None  # l1 still holds it
        l1.close()
    else:
        l1.close()
        assert (hook.entry is not None) == qdisc  # the qdisc still holds it
        if qdisc:
            tcx.del_qdisc()
    assert hook.entry is None and hook.query().count == 0 and ping(net, seen) == []


@pytest.mark.parametrize("with_clsact", [False, True])
def test_device_unregister_makes_links_defunct(net, with_clsact):
    """A10/B10/B14: links report ifindex 0, prog attachments go, no revision bump."""
    tcx, hook, seen = setup(net, "egress")
    ifindex = tcx.dev.ifindex
    if with_clsact:
        tcx.add_qdisc("clsact")
        hook.add_filter(lambda ctx: seen.append("tc5") or TC_ACT_OK)
    p = [prog(tcx, seen, f"tc{i}") for i in range(1, 5)]
    links = [hook.link(p[0]), hook.link(p[1])]
    hook.attach(p[2])
    hook.attach(p[3])
    in_links = [tcx.ingress.link(prog(tcx, seen, "in"))]
    assert links[0].info() == {"type": 11, "id": links[0].id, "prog_id": p[0].id,
                               "ifindex": ifindex, "attach_type": BPF_TCX_EGRESS}  # fmt: skip
    assert "attach_type:\tegress" in links[0].fdinfo()
    tcx.uninstall()
    for link in links + in_links:
        assert link.defunct and link.ifindex == 0 and link.info()["ifindex"] == 0
        assert "ifindex:\t0\n" in link.fdinfo()
        expect(errno.ENOLINK, link.update, p[3])
        link.detach()  # a no-op that succeeds
    assert hook.query().count == 0
    # an active miniq keeps the (emptied) entry and its classic filters [fix]
    assert (hook.entry is not None) == with_clsact
    assert ping(net, seen) == (["tc5"] if with_clsact else [])
    for link in links:
        link.close()


def test_syscall_target_resolution(net):
    dev = net.ab.a
    hook = tcx_hook(net.world, dev.ifindex, BPF_TCX_INGRESS)
    assert hook is Tcx.of(dev).ingress
    expect(errno.ENODEV, tcx_hook, net.world, 999, BPF_TCX_INGRESS)
    expect(errno.EINVAL, tcx_hook, net.world, dev.ifindex, BPF_NETKIT_PRIMARY)


def test_ids_are_per_world(net):
    from .conftest import Net

    other = Net()
    a = Tcx.of(net.ab.a).load(lambda c: -1)
    b = Tcx.of(other.ab.a).load(lambda c: -1)
    c = Tcx.of(net.bc.b).load(lambda c: -1)
    assert (a.id, b.id, c.id) == (1, 1, 2)
