"""Spec 11.A: the prog-based scenarios of selftests/bpf/prog_tests/tc_opts.c.

Each `_target` scenario runs for ingress and egress; a device is modelled by a
tcx-policy hook per direction (lazy entry, freed when empty).
"""

from __future__ import annotations

import errno

import pytest

from qdisclab.mprog import (
    BPF_F_AFTER,
    BPF_F_ALLOW_MULTI,
    BPF_F_ALLOW_OVERRIDE,
    BPF_F_BEFORE,
    BPF_F_ID,
    BPF_F_PREORDER,
    BPF_F_REPLACE,
    BPF_PROG_TYPE_XDP,
    BPF_TCX_EGRESS,
    BPF_TCX_INGRESS,
    BpfObjects,
    QueryNoSpace,
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


def test_ns_tc_opts_basic(objs):
    ingress, egress = tcx_hook(objs, BPF_TCX_INGRESS), tcx_hook(objs, BPF_TCX_EGRESS)
    p1, p2 = tc_progs(objs, 2)
    assert ingress.prog_query().count == 0 and egress.prog_query().count == 0

    ingress.prog_attach(p1)
    r = ingress.prog_query(capacity=2)
    assert (r.errno, r.count, r.revision, r.prog_ids) == (0, 1, 2, (p1.id,))
    assert egress.prog_query().count == 0 and egress.revision == 1
    assert ping(ingress) + ping(egress) == ["tc1"]

    egress.prog_attach(p2)
    r = egress.prog_query(capacity=2)
    assert (r.count, r.revision, r.prog_ids) == (1, 2, (p2.id,))
    assert ping(ingress) + ping(egress) == ["tc1", "tc2"]

    egress.prog_detach(p2)
    ingress.prog_detach(p1)
    assert ingress.count == egress.count == 0
    assert ingress.entry is None and egress.entry is None


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_before(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs)
    hook.prog_attach(p1)
    hook.prog_attach(p2)
    assert hook.programs == (p1, p2) and hook.revision == 3
    hook.prog_attach(p3, BPF_F_BEFORE, p2)
    assert hook.programs == (p1, p3, p2) and hook.revision == 4
    hook.prog_attach(p4, BPF_F_BEFORE | BPF_F_ID, p1.id)
    assert hook.programs == (p4, p1, p3, p2) and hook.revision == 5
    assert ping(hook) == ["tc4", "tc1", "tc3", "tc2"]
    for prog, left in ((p4, 3), (p3, 2), (p2, 1), (p1, 0)):
        hook.prog_detach(prog)
        assert hook.prog_query().count == left


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_after(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs)
    hook.prog_attach(p1)
    hook.prog_attach(p2)
    hook.prog_attach(p3, BPF_F_AFTER, p1)
    assert hook.programs == (p1, p3, p2) and hook.revision == 4
    hook.prog_attach(p4, BPF_F_AFTER | BPF_F_ID, p2.id)
    assert hook.programs == (p1, p3, p2, p4) and hook.revision == 5
    hook.prog_detach(p4)
    assert hook.programs == (p1, p3, p2) and hook.revision == 6
    hook.prog_detach(p3)
    assert hook.programs == (p1, p2) and hook.revision == 7
    hook.prog_detach(p2)
    assert hook.programs == (p1,) and hook.revision == 8
    hook.prog_detach(p1)
    assert hook.programs == () and hook.entry is None


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_revision(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2 = tc_progs(objs, 2)
    hook.prog_attach(p1, expected_revision=1)
    assert hook.revision == 2
    expect_errno(errno.ESTALE, hook.prog_attach, p2, expected_revision=1)
    assert hook.programs == (p1,) and hook.revision == 2
    hook.prog_attach(p2, expected_revision=2)
    assert hook.programs == (p1, p2) and hook.revision == 3
    expect_errno(errno.ESTALE, hook.prog_detach, p2, expected_revision=2)
    assert hook.count == 2 and hook.revision == 3
    hook.prog_detach(p2, expected_revision=3)
    assert hook.programs == (p1,) and hook.revision == 4
    hook.prog_detach(p1)
    assert hook.count == 0


def test_ns_tc_opts_revision_on_fresh_entry(objs):
    """A fresh tcx entry has revision 1: exp 1 succeeds, any other non-zero is ESTALE."""
    hook = tcx_hook(objs, BPF_TCX_INGRESS)
    p1 = tc_progs(objs, 1)[0]
    expect_errno(errno.ESTALE, hook.prog_attach, p1, expected_revision=2)
    assert hook.entry is None  # the temporary entry was discarded
    hook.prog_attach(p1, expected_revision=1)
    assert hook.revision == 2


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("chain_tc_old", [False, True])
def test_ns_tc_opts_chain_classic(objs, target, chain_tc_old):
    hook = tcx_hook(objs, target)
    p1, p2 = tc_progs(objs, 2)
    classic = classic_filter("tc3") if chain_tc_old else None
    hook.miniq_active = chain_tc_old
    hook.prog_attach(p1)
    hook.prog_attach(p2)
    assert hook.count == 2
    assert ping(hook, classic) == ["tc1", "tc2"] + (["tc3"] if chain_tc_old else [])
    hook.prog_detach(p2)
    assert ping(hook, classic) == ["tc1"] + (["tc3"] if chain_tc_old else [])
    hook.prog_detach(p1)
    assert hook.count == 0
    # the classic-tc qdisc keeps the entry (and its revision) alive across the empty state
    assert (hook.entry is not None) is chain_tc_old
    assert hook.revision == (5 if chain_tc_old else 1)
    hook.miniq_active = False
    assert hook.entry is None and hook.prog_query().count == 0


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_replace(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3 = tc_progs(objs, 3)
    hook.prog_attach(p1, expected_revision=1)
    hook.prog_attach(p2, BPF_F_BEFORE | BPF_F_ID, p1.id, expected_revision=2)
    r = hook.prog_query(capacity=3)
    assert r.prog_ids == (p2.id, p1.id) and r.revision == 3
    assert r.prog_attach_flags == (0, 0) and r.attach_flags == 0

    hook.prog_attach(p3, BPF_F_REPLACE, replace_prog=p2, expected_revision=3)
    assert hook.programs == (p3, p1) and hook.revision == 4
    assert ping(hook) == ["tc3", "tc1"]

    hook.prog_attach(p2, BPF_F_REPLACE | BPF_F_BEFORE, p1, 4, replace_prog=p3)
    assert hook.programs == (p2, p1) and hook.revision == 5

    expect_errno(errno.EEXIST, hook.prog_attach, p2, BPF_F_REPLACE, replace_prog=p2)
    expect_errno(
        errno.ERANGE, hook.prog_attach, p3, BPF_F_REPLACE | BPF_F_AFTER, p1, 5, replace_prog=p2
    )
    expect_errno(
        errno.ERANGE,
        hook.prog_attach,
        p3,
        BPF_F_BEFORE | BPF_F_AFTER | BPF_F_REPLACE,
        p1,
        5,
        replace_prog=p2,
    )
    assert hook.programs == (p2, p1) and hook.revision == 5

    hook.prog_detach(p2, BPF_F_BEFORE | BPF_F_ID, p1.id, 5)
    assert hook.programs == (p1,) and hook.revision == 6
    hook.prog_detach(p1)
    assert hook.count == 0


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_invalid(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2 = tc_progs(objs, 2)
    failing = [
        (errno.ERANGE, BPF_F_BEFORE | BPF_F_AFTER, None),
        (errno.ENOENT, BPF_F_BEFORE | BPF_F_ID, 0),
        (errno.ENOENT, BPF_F_AFTER | BPF_F_ID, 0),
        (errno.EINVAL, 0, p2),
        (errno.ENOENT, BPF_F_BEFORE | BPF_F_AFTER, p2),
        (errno.EINVAL, BPF_F_ID, p2.id),
        (errno.ENOENT, BPF_F_BEFORE, p1),
        (errno.ENOENT, BPF_F_AFTER, p1),
    ]
    for code, flags, rel in failing:
        expect_errno(code, hook.prog_attach, p1, flags, rel)
        assert hook.prog_query().count == 0 and hook.entry is None
    hook.prog_attach(p1)
    assert hook.programs == (p1,)
    expect_errno(errno.EEXIST, hook.prog_attach, p1)
    expect_errno(errno.EEXIST, hook.prog_attach, p1, BPF_F_BEFORE, p1)
    expect_errno(errno.EEXIST, hook.prog_attach, p1, BPF_F_AFTER, p1)
    # replace fd 0 (stdin) is not a program: rejected before the mprog checks
    expect_errno(errno.EINVAL, hook.prog_attach, p1, BPF_F_REPLACE, p1, replace_prog=None)
    expect_errno(errno.EEXIST, hook.prog_attach, p1, BPF_F_REPLACE, replace_prog=p1)
    assert hook.count == 1 and hook.revision == 2
    hook.prog_detach(p1)
    assert hook.count == 0


@pytest.mark.parametrize(
    "flags", [BPF_F_ALLOW_OVERRIDE, BPF_F_ALLOW_MULTI, BPF_F_PREORDER, 1 << 7, 1 << 14]
)
def test_ns_tc_opts_flag_mask(objs, flags):
    """Flags outside REPLACE|BEFORE|AFTER|ID|LINK are EINVAL for attach and detach."""
    hook = tcx_hook(objs, BPF_TCX_INGRESS)
    p1 = tc_progs(objs, 1)[0]
    expect_errno(errno.EINVAL, hook.prog_attach, p1, flags | BPF_F_AFTER)
    hook.prog_attach(p1)
    expect_errno(errno.EINVAL, hook.prog_detach, p1, flags)
    assert hook.programs == (p1,)


def test_ns_tc_opts_prog_type(objs):
    """attach_bpf_fd must be a SCHED_CLS program; expected_attach_type is not compared."""
    hook = tcx_hook(objs, BPF_TCX_EGRESS)
    xdp = objs.program(lambda ctx: 0, prog_type=BPF_PROG_TYPE_XDP)
    expect_errno(errno.EINVAL, hook.prog_attach, xdp)
    ingress_prog = recording_prog(objs, "tc1", expected_attach_type=BPF_TCX_INGRESS)
    hook.prog_attach(ingress_prog)
    assert hook.programs == (ingress_prog,)


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_prepend(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs)
    hook.prog_attach(p1)
    hook.prog_attach(p2, BPF_F_BEFORE)
    assert hook.programs == (p2, p1) and hook.revision == 3
    hook.prog_attach(p3, BPF_F_BEFORE)
    hook.prog_attach(p4, BPF_F_BEFORE)
    assert hook.programs == (p4, p3, p2, p1) and hook.revision == 5
    assert ping(hook) == ["tc4", "tc3", "tc2", "tc1"]
    for prog, left in ((p4, 3), (p3, 2), (p2, 1), (p1, 0)):
        hook.prog_detach(prog)
        assert hook.count == left


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_append(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs)
    hook.prog_attach(p1)
    hook.prog_attach(p2, BPF_F_AFTER)
    assert hook.programs == (p1, p2) and hook.revision == 3
    hook.prog_attach(p3, BPF_F_AFTER)
    hook.prog_attach(p4, BPF_F_AFTER)
    assert hook.programs == (p1, p2, p3, p4) and hook.revision == 5
    for prog, left in ((p4, 3), (p3, 2), (p2, 1), (p1, 0)):
        hook.prog_detach(prog)
        assert hook.count == left


def test_ns_tc_opts_dev_cleanup(objs):
    hook = tcx_hook(objs, BPF_TCX_INGRESS)
    progs = tc_progs(objs)
    for i, prog in enumerate(progs, 1):
        hook.prog_attach(prog)
        assert hook.count == i
    hook.uninstall()
    assert hook.count == 0 and hook.entry is None and hook.progs == ()
    r = hook.prog_query()
    assert (r.count, r.revision) == (0, 1)


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_mixed(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs, expected_attach_type=target)
    hook.prog_attach(p1)
    l2 = hook.link_create(p2)
    assert hook.slots == ((p1, None), (p2, l2))
    expect_errno(errno.EEXIST, hook.prog_attach, p2, BPF_F_REPLACE, replace_prog=p1)
    expect_errno(errno.EEXIST, hook.prog_attach, p1, BPF_F_REPLACE, replace_prog=p2)
    expect_errno(errno.EBUSY, hook.prog_attach, p3, BPF_F_REPLACE, replace_prog=p2)
    assert hook.revision == 3
    hook.prog_attach(p3, BPF_F_REPLACE, replace_prog=p1)
    assert hook.slots == ((p3, None), (p2, l2)) and hook.revision == 4
    l4 = hook.link_create(p4)
    assert hook.slots == ((p3, None), (p2, l2), (p4, l4)) and hook.revision == 5
    expect_errno(errno.EEXIST, hook.prog_attach, p2, BPF_F_REPLACE, replace_prog=p4)

    r = hook.prog_query(capacity=4)
    assert (r.errno, r.count, r.revision) == (0, 3, 5)
    assert r.prog_ids == (p3.id, p2.id, p4.id)
    assert r.link_ids == (0, l2.id, l4.id)
    assert r.prog_attach_flags == r.link_attach_flags == (0, 0, 0)

    hook.prog_detach(p3)
    assert hook.count == 2
    l2.close()
    l4.close()
    assert hook.count == 0 and hook.entry is None


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_demixed(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2 = tc_progs(objs, 2, expected_attach_type=target)
    hook.prog_attach(p1)
    l2 = hook.link_create(p2)
    expect_errno(errno.EBUSY, hook.prog_detach, None, BPF_F_AFTER)
    assert hook.slots == ((p1, None), (p2, l2)) and hook.revision == 3
    hook.prog_detach(None, BPF_F_BEFORE)
    assert hook.slots == ((p2, l2),) and hook.revision == 4
    l2.close()
    assert hook.count == 0


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_detach(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs)
    for prog in (p1, p2, p3, p4):
        hook.prog_attach(prog)
    assert hook.revision == 5
    hook.prog_detach(None, BPF_F_BEFORE)
    assert hook.programs == (p2, p3, p4) and hook.revision == 6
    hook.prog_detach(None, BPF_F_AFTER)
    assert hook.programs == (p2, p3) and hook.revision == 7
    hook.prog_detach(p3)
    hook.prog_detach(p2)
    assert hook.entry is None
    expect_errno(errno.ENOENT, hook.prog_detach, None, BPF_F_BEFORE)
    expect_errno(errno.ENOENT, hook.prog_detach, None, BPF_F_AFTER)


def test_ns_tc_opts_detach_no_prog_default_is_last(objs):
    hook = tcx_hook(objs, BPF_TCX_INGRESS)
    p1, p2, p3 = tc_progs(objs, 3)
    for prog in (p1, p2, p3):
        hook.prog_attach(prog)
    hook.prog_detach()
    assert hook.programs == (p1, p2)
    expect_errno(errno.EPERM, hook.prog_detach, None, capable=False)
    expect_errno(errno.EINVAL, hook.prog_detach, None, BPF_F_ID, p1.id)
    expect_errno(errno.EINVAL, hook.prog_detach, None, 0, p1)
    expect_errno(errno.EINVAL, hook.prog_detach, None, BPF_F_REPLACE)
    assert hook.programs == (p1, p2) and hook.revision == 5


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_detach_before(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs)
    for prog in (p1, p2, p3, p4):
        hook.prog_attach(prog)
    hook.prog_detach(p1, BPF_F_BEFORE, p2)
    assert hook.programs == (p2, p3, p4) and hook.revision == 6
    expect_errno(errno.ENOENT, hook.prog_detach, p1, BPF_F_BEFORE, p2)
    expect_errno(errno.ERANGE, hook.prog_detach, p2, BPF_F_BEFORE, p4)
    expect_errno(errno.ENOENT, hook.prog_detach, p2, BPF_F_BEFORE, p1)
    assert hook.revision == 6
    hook.prog_detach(p2, BPF_F_BEFORE, p3)
    assert hook.programs == (p3, p4) and hook.revision == 7
    hook.prog_detach(None, BPF_F_BEFORE, p4)
    assert hook.programs == (p4,) and hook.revision == 8
    hook.prog_detach(None, BPF_F_BEFORE)
    assert hook.count == 0


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_detach_after(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = tc_progs(objs)
    for prog in (p1, p2, p3, p4):
        hook.prog_attach(prog)
    hook.prog_detach(p2, BPF_F_AFTER, p1)
    assert hook.programs == (p1, p3, p4) and hook.revision == 6
    expect_errno(errno.ENOENT, hook.prog_detach, p2, BPF_F_AFTER, p1)
    expect_errno(errno.ERANGE, hook.prog_detach, p1, BPF_F_AFTER, p4)
    expect_errno(errno.ERANGE, hook.prog_detach, p1, BPF_F_AFTER, p3)
    expect_errno(errno.ERANGE, hook.prog_detach, p1, BPF_F_AFTER, p1)
    assert hook.revision == 6
    hook.prog_detach(p3, BPF_F_AFTER, p1)
    assert hook.programs == (p1, p4) and hook.revision == 7
    hook.prog_detach(None, BPF_F_AFTER, p1)
    assert hook.programs == (p1,) and hook.revision == 8
    hook.prog_detach(None, BPF_F_AFTER)
    assert hook.count == 0


def test_ns_tc_opts_detach_relative_quirks(objs):
    """No-prog detach BEFORE the head / AFTER the tail removes the relative itself."""
    hook = tcx_hook(objs, BPF_TCX_INGRESS)
    p1, p2, p3 = tc_progs(objs, 3)
    for prog in (p1, p2, p3):
        hook.prog_attach(prog)
    hook.prog_detach(None, BPF_F_BEFORE, p1)
    assert hook.programs == (p2, p3)
    hook.prog_detach(None, BPF_F_AFTER, p3)
    assert hook.programs == (p2,)
    expect_errno(errno.ERANGE, hook.prog_detach, p2, BPF_F_BEFORE)
    expect_errno(errno.ERANGE, hook.prog_detach, p2, BPF_F_AFTER)
    assert hook.programs == (p2,) and hook.revision == 6


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("clsact", [False, True])
def test_ns_tc_opts_delete_empty(objs, target, clsact):
    hook = tcx_hook(objs, target)
    hook.miniq_active = clsact
    assert hook.prog_query().count == 0
    assert (hook.entry is not None) is clsact
    expect_errno(errno.ENOENT, hook.prog_detach)
    hook.miniq_active = False
    assert hook.entry is None and hook.prog_query().count == 0


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_chain_mixed(objs, target):
    hook = tcx_hook(objs, target)
    hook.miniq_active = True
    tc5 = classic_filter("tc5", TCX_PASS)
    tc4 = recording_prog(objs, "tc4")
    tc6 = recording_prog(objs, "tc6", TCX_PASS)
    hook.prog_attach(tc6)
    assert hook.count == 1
    assert ping(hook, tc5) == ["tc6"]
    hook.prog_attach(tc4, BPF_F_REPLACE, replace_prog=tc6)
    assert hook.count == 1
    assert ping(hook, tc5) == ["tc4", "tc5"]
    hook.prog_detach(tc4)
    assert hook.count == 0
    assert ping(hook, tc5) == ["tc5"]


def _full_hook(objs, target):
    hook = tcx_hook(objs, target)
    progs = [objs.program(lambda ctx: 0, name=f"raw{i}") for i in range(63)]
    for i, prog in enumerate(progs, 1):
        hook.prog_attach(prog)
        assert hook.count == i
    return hook, progs


@pytest.mark.parametrize(
    ("target", "flags", "rel_last"),
    [
        (BPF_TCX_INGRESS, 0, False),
        (BPF_TCX_EGRESS, 0, False),
        (BPF_TCX_INGRESS, BPF_F_BEFORE, False),
        (BPF_TCX_EGRESS, BPF_F_BEFORE, True),
        (BPF_TCX_INGRESS, BPF_F_AFTER, True),
        (BPF_TCX_EGRESS, BPF_F_AFTER, False),
    ],
)
def test_ns_tc_opts_max(objs, target, flags, rel_last):
    hook, progs = _full_hook(objs, target)
    extra = objs.program(lambda ctx: 0, name="extra")
    expect_errno(errno.ERANGE, hook.prog_attach, extra, flags, progs[-1] if rel_last else None)
    assert hook.count == 63 and hook.revision == 64


def test_ns_tc_opts_max_edges(objs):
    """Full list: a resolvable but foreign relative is ERANGE, replace still works,
    and a no-program detach that resolves to the tail hits ERANGE."""
    hook, progs = _full_hook(objs, BPF_TCX_INGRESS)
    extra, foreign = (objs.program(lambda ctx: 0) for _ in range(2))
    expect_errno(errno.ERANGE, hook.prog_attach, extra, BPF_F_BEFORE, foreign)
    expect_errno(errno.ENOENT, hook.prog_attach, extra, BPF_F_BEFORE | BPF_F_ID, 9999)
    for flags, rel in ((0, None), (BPF_F_AFTER, None), (BPF_F_AFTER, progs[-1])):
        expect_errno(errno.ERANGE, hook.prog_detach, None, flags, rel)
    assert hook.count == 63 and hook.revision == 64
    hook.prog_attach(extra, BPF_F_REPLACE, replace_prog=progs[5])
    assert hook.programs[5] is extra and hook.count == 63 and hook.revision == 65
    hook.prog_detach(None, BPF_F_BEFORE)
    assert hook.count == 62 and hook.programs[0] is progs[1]


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_query(objs, target):
    hook = tcx_hook(objs, target)
    p1, p2, p3, p4 = progs = tc_progs(objs)
    for i, prog in enumerate(progs, 1):
        hook.prog_attach(prog, expected_revision=i)
    ids = tuple(p.id for p in progs)

    r = hook.prog_query(capacity=0)
    assert (r.errno, r.count, r.revision, r.prog_ids, r.link_ids) == (0, 4, 5, (), ())
    r = hook.prog_query(capacity=r.count)
    assert (r.errno, r.count, r.revision, r.prog_ids) == (0, 4, 5, ids)
    assert r.attach_flags == 0

    r = hook.prog_query(capacity=2)
    assert (r.errno, r.count, r.revision, r.prog_ids) == (errno.ENOSPC, 4, 5, ids[:2])
    with pytest.raises(QueryNoSpace) as info:
        r.raise_for_errno()
    assert info.value.errno == errno.ENOSPC and info.value.result is r

    r = hook.prog_query(capacity=10)
    assert (r.errno, r.count, r.prog_ids) == (0, 4, ids)
    assert r.raise_for_errno() is r
    r = hook.prog_query(capacity=40, want_ids=False)
    assert (r.errno, r.count, r.revision, r.prog_ids) == (0, 4, 5, ())

    expect_errno(errno.EINVAL, hook.prog_query, 10, query_flags=1)
    expect_errno(errno.EINVAL, hook.prog_query, 10, attach_flags=1)
    expect_errno(errno.EPERM, hook.prog_query, capable=False)
    for prog, left in ((p4, 3), (p3, 2), (p2, 1), (p1, 0)):
        hook.prog_detach(prog)
        assert hook.prog_query().count == left


@pytest.mark.parametrize("target", TARGETS)
def test_ns_tc_opts_query_attach(objs, target):
    hook = tcx_hook(objs, target)
    p1 = tc_progs(objs, 1)[0]
    r = hook.prog_query(capacity=2)
    assert (r.errno, r.count, r.revision) == (0, 0, 1)
    hook.prog_attach(p1, expected_revision=r.revision)
    r = hook.prog_query(capacity=2)
    assert (r.count, r.revision, r.prog_ids) == (1, 2, (p1.id,))
    hook.prog_detach(p1)
    assert hook.prog_query().count == 0
