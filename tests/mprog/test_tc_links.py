"""Spec 11.B: the link scenarios of selftests/bpf/prog_tests/tc_links.c."""

from __future__ import annotations

import errno

import pytest

from qdisclab.mprog import (
    BPF_F_AFTER,
    BPF_F_ALLOW_MULTI,
    BPF_F_BEFORE,
    BPF_F_ID,
    BPF_F_LINK,
    BPF_F_REPLACE,
    BPF_PROG_TYPE_SCHED_ACT,
    BPF_TCX_EGRESS,
    BPF_TCX_INGRESS,
    BpfObjects,
    Hook,
)

from .helpers import (
    TARGETS,
    TCX_PASS,
    classic_filter,
    expect_errno,
    ping,
    recording_prog,
    tc_progs,
    tcx_hook,
)


@pytest.fixture
def objs() -> BpfObjects:
    return BpfObjects()


def test_tc_links_basic(objs):
    ingress, egress = tcx_hook(objs, BPF_TCX_INGRESS), tcx_hook(objs, BPF_TCX_EGRESS)
    p1 = recording_prog(objs, "tc1", expected_attach_type=BPF_TCX_INGRESS)
    p2 = recording_prog(objs, "tc2", expected_attach_type=BPF_TCX_EGRESS)
    l1 = ingress.link_create(p1)
    assert l1.attach_type == BPF_TCX_INGRESS and not l1.defunct
    r = ingress.prog_query(capacity=2)
    assert (r.count, r.revision, r.prog_ids, r.link_ids) == (1, 2, (p1.id,), (l1.id,))
    assert ping(ingress) + ping(egress) == ["tc1"]
    l2 = egress.link_create(p2)
    r = egress.prog_query(capacity=2)
    assert (r.count, r.revision, r.prog_ids, r.link_ids) == (1, 2, (p2.id,), (l2.id,))
    assert ping(ingress) + ping(egress) == ["tc1", "tc2"]
    l1.close()
    l2.close()
    assert ingress.count == egress.count == 0
    assert ingress.entry is None and egress.entry is None


@pytest.mark.parametrize("target", TARGETS)
def test_tc_links_before(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs, expected_attach_type=target)
    l1, l2 = hook.link_create(p1), hook.link_create(p2)
    assert hook.slots == ((p1, l1), (p2, l2)) and hook.revision == 3
    l3 = hook.link_create(p3, BPF_F_BEFORE, p2)  # a relative prog matches a link-owned slot
    assert hook.slots == ((p1, l1), (p3, l3), (p2, l2)) and hook.revision == 4
    l4 = hook.link_create(p4, BPF_F_BEFORE | BPF_F_LINK | BPF_F_ID, l1.id)
    assert hook.slots == ((p4, l4), (p1, l1), (p3, l3), (p2, l2)) and hook.revision == 5
    assert ping(hook) == ["tc4", "tc1", "tc3", "tc2"]
    for link in (l1, l2, l3, l4):
        link.close()
    assert hook.count == 0


@pytest.mark.parametrize("target", TARGETS)
def test_tc_links_after(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs, expected_attach_type=target)
    l1, l2 = hook.link_create(p1), hook.link_create(p2)
    assert hook.revision == 3
    l3 = hook.link_create(p3, BPF_F_AFTER, p1)
    assert hook.slots == ((p1, l1), (p3, l3), (p2, l2))
    l4 = hook.link_create(p4, BPF_F_AFTER | BPF_F_LINK, l2)
    assert hook.slots == ((p1, l1), (p3, l3), (p2, l2), (p4, l4)) and hook.revision == 5
    assert ping(hook) == ["tc1", "tc3", "tc2", "tc4"]
    for link in (l1, l2, l3, l4):
        link.close()
    assert hook.count == 0


@pytest.mark.parametrize("target", TARGETS)
def test_tc_links_revision(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2 = tc_progs(objs, 2, expected_attach_type=target)
    l1 = hook.link_create(p1, expected_revision=1)
    expect_errno(errno.ESTALE, hook.link_create, p2, expected_revision=1)
    assert hook.count == 1
    l2 = hook.link_create(p2, expected_revision=2)
    assert l2.id == l1.id + 2  # the failed create consumed an ID
    expect_errno(errno.ENOENT, objs.link_by_id, l1.id + 1)
    r = hook.prog_query(capacity=3)
    assert (r.count, r.revision, r.prog_ids, r.link_ids) == (2, 3, (p1.id, p2.id), (l1.id, l2.id))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("chain_tc_old", [False, True])
def test_tc_links_chain_classic(objs, target, chain_tc_old):
    hook = tcx_hook(objs, target)
    hook.miniq_active = chain_tc_old
    classic = classic_filter("tc3") if chain_tc_old else None
    old = ["tc3"] if chain_tc_old else []
    p1, p2 = tc_progs(objs, 2, expected_attach_type=target)
    l1, l2 = hook.link_create(p1), hook.link_create(p2)
    assert hook.count == 2
    assert ping(hook, classic) == ["tc1", "tc2", *old]
    l2.detach()
    assert l2.defunct and hook.count == 1 and hook.revision == 4
    assert ping(hook, classic) == ["tc1", *old]
    hook.miniq_active = False
    assert hook.count == 1
    l1.close()
    assert hook.count == 0 and hook.entry is None


@pytest.mark.parametrize("target", TARGETS)
def test_tc_links_replace(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3 = tc_progs(objs, 3, expected_attach_type=target)
    l1 = hook.link_create(p1, expected_revision=1)
    l2 = hook.link_create(p2, BPF_F_BEFORE | BPF_F_ID, p1.id, 2)
    assert hook.slots == ((p2, l2), (p1, l1)) and hook.revision == 3
    expect_errno(errno.ENOENT, hook.link_create, p3, BPF_F_REPLACE, p2, 3)
    expect_errno(errno.ENOENT, hook.link_create, p3, BPF_F_REPLACE | BPF_F_LINK, l2, 3)
    expect_errno(
        errno.ENOENT,
        hook.link_create,
        p3,
        BPF_F_REPLACE | BPF_F_LINK | BPF_F_AFTER | BPF_F_ID,
        l2.id,
    )
    assert hook.count == 2 and hook.revision == 3
    l2.update(p3)
    assert hook.slots == ((p3, l2), (p1, l1)) and hook.revision == 4 and l2.prog is p3
    assert ping(hook) == ["tc3", "tc1"]
    l2.detach()
    assert hook.slots == ((p1, l1),) and hook.revision == 5
    assert ping(hook) == ["tc1"]
    l1.update(p1)
    assert hook.revision == 5
    l1.close()
    l2.close()
    assert hook.count == 0


def test_tc_links_update_errors(objs):
    hook = tcx_hook(objs, BPF_TCX_INGRESS)
    p1, p2, p3 = tc_progs(objs, 3)
    act = objs.program(lambda ctx: -1, prog_type=BPF_PROG_TYPE_SCHED_ACT)
    l1 = hook.link_create(p1)
    hook.prog_attach(p2)
    expect_errno(errno.EEXIST, l1.update, p2)
    expect_errno(errno.EPERM, l1.update, p3, old_prog=p2)
    expect_errno(errno.EINVAL, l1.update, act)  # type mismatch via the relative lookup
    assert hook.slots == ((p1, l1), (p2, None)) and hook.revision == 3
    l1.update(p3, old_prog=p1)
    assert hook.slots == ((p3, l1), (p2, None)) and hook.revision == 4
    l1.detach()
    expect_errno(errno.ENOLINK, l1.update, p1)
    expect_errno(errno.ENOLINK, l1.update, p1, old_prog=p2)  # ENOLINK wins over EPERM
    l1.detach()  # always 0, even when defunct
    l1.close()
    expect_errno(errno.EBADF, l1.detach)
    expect_errno(errno.EBADF, l1.update, p1)
    assert hook.programs == (p2,) and hook.revision == 5


@pytest.mark.parametrize("target", TARGETS)
def test_tc_links_invalid(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2 = tc_progs(objs, 2, expected_attach_type=target)
    failing = [
        (errno.ERANGE, BPF_F_BEFORE | BPF_F_AFTER, None),
        (errno.ENOENT, BPF_F_BEFORE | BPF_F_ID, 0),
        (errno.ENOENT, BPF_F_AFTER | BPF_F_ID, 0),
        (errno.ENOENT, BPF_F_ID, 0),
        (errno.EINVAL, BPF_F_LINK, p2),
        (errno.EINVAL, BPF_F_LINK, 0),
        (errno.EINVAL, 0, p2),
        (errno.ENOENT, BPF_F_BEFORE | BPF_F_AFTER, p2),
        (errno.ENOENT, BPF_F_BEFORE, p1),
        (errno.EINVAL, BPF_F_ID, p2.id),
        (errno.ENOENT, BPF_F_ID, 42),
        (errno.EINVAL, BPF_F_BEFORE | BPF_F_LINK, p1),
        (errno.ENOENT, BPF_F_AFTER, p1),
        (errno.EINVAL, BPF_F_AFTER | BPF_F_LINK, p1),
        (errno.EINVAL, BPF_F_ALLOW_MULTI, None),  # junk bits without a position
    ]
    for code, flags, rel in failing:
        expect_errno(code, hook.link_create, p1, flags, rel)
        assert hook.count == 0 and hook.entry is None
    l1 = hook.link_create(p1)
    assert hook.slots == ((p1, l1),)
    expect_errno(errno.EINVAL, hook.link_create, p2, BPF_F_AFTER | BPF_F_LINK, p1)
    expect_errno(
        errno.ENOENT, hook.link_create, p2, BPF_F_BEFORE | BPF_F_LINK | BPF_F_ID, 2**32 - 1
    )
    expect_errno(errno.EEXIST, hook.link_create, p1, BPF_F_BEFORE | BPF_F_LINK | BPF_F_ID, l1.id)
    expect_errno(errno.EEXIST, hook.link_create, p1, BPF_F_BEFORE | BPF_F_ID, p1.id)
    assert hook.count == 1 and hook.revision == 2
    l2 = hook.link_create(p2, BPF_F_BEFORE | BPF_F_LINK | BPF_F_ID, l1.id)
    assert hook.slots == ((p2, l2), (p1, l1)) and hook.revision == 3
    l1.close()
    l2.close()
    assert hook.count == 0


def test_tc_links_invalid_existing_id(objs):
    """B7 #11: ID 42 names an existing program: EINVAL (no position), not ENOENT."""
    hook = tcx_hook(objs, BPF_TCX_INGRESS)
    progs = tc_progs(objs, 42)
    assert progs[-1].id == 42
    expect_errno(errno.EINVAL, hook.link_create, progs[0], BPF_F_ID, 42)
    assert hook.count == 0


@pytest.mark.parametrize("target", TARGETS)
def test_tc_links_prepend(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs, expected_attach_type=target)
    l1 = hook.link_create(p1)
    l2 = hook.link_create(p2, BPF_F_BEFORE)
    assert hook.slots == ((p2, l2), (p1, l1)) and hook.revision == 3
    l3 = hook.link_create(p3, BPF_F_BEFORE)
    l4 = hook.link_create(p4, BPF_F_BEFORE)
    assert hook.slots == ((p4, l4), (p3, l3), (p2, l2), (p1, l1)) and hook.revision == 5
    assert ping(hook) == ["tc4", "tc3", "tc2", "tc1"]


@pytest.mark.parametrize("target", TARGETS)
def test_tc_links_append(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs, expected_attach_type=target)
    l1 = hook.link_create(p1)
    l2 = hook.link_create(p2, BPF_F_AFTER)
    assert hook.slots == ((p1, l1), (p2, l2)) and hook.revision == 3
    l3 = hook.link_create(p3, BPF_F_AFTER)
    l4 = hook.link_create(p4, BPF_F_AFTER)
    assert hook.slots == ((p1, l1), (p2, l2), (p3, l3), (p4, l4)) and hook.revision == 5


def _four_links(objs, hook):
    return [hook.link_create(p) for p in tc_progs(objs)]


def test_tc_links_dev_cleanup(objs):
    hook = tcx_hook(objs, BPF_TCX_INGRESS)
    links = _four_links(objs, hook)
    assert hook.count == 4
    hook.uninstall()
    assert all(link.defunct for link in links)
    assert hook.count == 0 and hook.entry is None and hook.progs == ()
    expect_errno(errno.ENOLINK, links[0].update, links[1].prog)
    for link in links:
        link.detach()
        link.close()
    assert hook.count == 0


@pytest.mark.parametrize("target", TARGETS)
def test_tc_links_chain_mixed(objs, target):
    hook = tcx_hook(objs, target)
    hook.miniq_active = True
    tc5 = classic_filter("tc5", TCX_PASS)
    tc4 = recording_prog(objs, "tc4")
    tc6 = recording_prog(objs, "tc6", TCX_PASS)
    l6 = hook.link_create(tc6)
    assert ping(hook, tc5) == ["tc6"]
    l6.update(tc4)
    assert hook.count == 1
    assert ping(hook, tc5) == ["tc4", "tc5"]
    l6.detach()
    assert hook.count == 0
    assert ping(hook, tc5) == ["tc5"]


@pytest.mark.parametrize(("qdisc", "qdisc_first"), [(True, True), (True, False), (False, False)])
def test_tc_links_ingress(objs, qdisc, qdisc_first):
    hook = tcx_hook(objs, BPF_TCX_INGRESS)
    hook.miniq_active = qdisc
    classic = classic_filter("tc3") if qdisc else None
    old = ["tc3"] if qdisc else []
    p1, p2 = tc_progs(objs, 2, expected_attach_type=BPF_TCX_INGRESS)
    l1, l2 = hook.link_create(p1), hook.link_create(p2)
    assert hook.count == 2 and ping(hook, classic) == ["tc1", "tc2", *old]
    l2.detach()
    assert hook.count == 1 and ping(hook, classic) == ["tc1", *old]
    if qdisc_first:
        hook.miniq_active = False
        assert hook.entry is not None and ping(hook) == ["tc1"]
        l1.close()
    else:
        l1.close()
        assert (hook.entry is not None) is qdisc  # the qdisc still shares the entry
        hook.miniq_active = False
    l2.close()
    assert hook.count == 0 and hook.entry is None and ping(hook) == []


def test_tc_links_dev_mixed(objs):
    """Unregister with an active miniq: links defunct, entry kept, no revision bump."""
    hook = tcx_hook(objs, BPF_TCX_EGRESS)
    hook.miniq_active = True
    links = _four_links(objs, hook)
    assert hook.revision == 5
    hook.uninstall()
    assert all(link.defunct for link in links)
    assert hook.entry is not None and hook.count == 0 and hook.revision == 5
    for link in links:
        link.close()
    assert hook.revision == 5


def test_tc_links_same_prog_on_both_directions(objs):
    ingress, egress = Hook(objs, BPF_TCX_INGRESS), Hook(objs, BPF_TCX_EGRESS)
    p1 = tc_progs(objs, 1)[0]
    l_in, l_out = ingress.link_create(p1), egress.link_create(p1)
    assert ingress.slots == ((p1, l_in),) and egress.slots == ((p1, l_out),)
    # the ingress link is a valid object but not attached to egress
    expect_errno(
        errno.ENOENT, egress.prog_attach, tc_progs(objs, 1)[0], BPF_F_LINK | BPF_F_AFTER, l_in
    )
