"""Objects, relative resolution, runner, netkit policy and the Pythonic layer."""

from __future__ import annotations

import errno

import pytest

from qdisclab.mprog import (
    BPF_F_AFTER,
    BPF_F_BEFORE,
    BPF_F_ID,
    BPF_F_LINK,
    BPF_NETKIT_PEER,
    BPF_NETKIT_PRIMARY,
    BPF_PROG_TYPE_SCHED_ACT,
    BPF_PROG_TYPE_SCHED_CLS,
    BPF_TCX_INGRESS,
    BpfObjects,
    Hook,
    Link,
    MprogBundle,
    MprogHook,
    position_args,
    resolve_relative,
)
from qdisclab.mprog import constants as c
from qdisclab.mprog.bench import bench_mprog

from .helpers import expect_errno, tc_progs


@pytest.fixture
def objs() -> BpfObjects:
    return BpfObjects()


def test_uapi_values():
    assert (c.BPF_F_ALLOW_OVERRIDE, c.BPF_F_ALLOW_MULTI, c.BPF_F_REPLACE) == (1, 2, 4)
    assert (c.BPF_F_BEFORE, c.BPF_F_AFTER, c.BPF_F_ID, c.BPF_F_LINK) == (8, 16, 32, 8192)
    assert (c.BPF_TCX_INGRESS, c.BPF_TCX_EGRESS) == (46, 47)
    assert (c.BPF_NETKIT_PRIMARY, c.BPF_NETKIT_PEER) == (54, 55)
    assert c.MPROG_MAX_PROGS == 63 and c.BPF_MPROG_MAX == 64
    assert c.BPF_LINK_TYPE_TCX == 11 and c.BPF_PROG_TYPE_SCHED_CLS == 3


def test_ids_separate_spaces_never_reused(objs):
    hook = MprogHook(objs, BPF_TCX_INGRESS)
    p1, p2 = tc_progs(objs, 2)
    assert (p1.id, p2.id) == (1, 2)
    l1 = hook.link_create(p1)
    assert l1.id == 1 and objs.link_by_id(1) is l1
    l1.close()
    expect_errno(errno.ENOENT, objs.link_by_id, 1)
    assert hook.link_create(p1).id == 2
    assert objs.prog_by_id(2) is p2
    expect_errno(errno.ENOENT, objs.prog_by_id, 0)
    expect_errno(errno.ENOENT, objs.link_by_id, 0)
    # a second world numbers from 1 again
    assert BpfObjects().program(lambda ctx: 0).id == 1


def test_unsettled_link_lookup_is_eagain(objs):
    """A link looked up by ID while its own create is running gives EAGAIN."""
    hook = MprogHook(objs, BPF_TCX_INGRESS)
    p1 = tc_progs(objs, 1)[0]
    expect_errno(errno.EAGAIN, hook.link_create, p1, BPF_F_BEFORE | BPF_F_LINK | BPF_F_ID, 1)
    assert hook.count == 0 and list(objs.links()) == []


def test_relative_fd_kinds(objs):
    hook = MprogHook(objs, BPF_TCX_INGRESS)
    p1, p2 = tc_progs(objs, 2)
    l1 = hook.link_create(p1)
    sched = BPF_PROG_TYPE_SCHED_CLS
    assert resolve_relative(objs, l1, BPF_F_LINK, sched) == (p1, l1)
    assert resolve_relative(objs, l1.id, BPF_F_LINK | BPF_F_ID, sched) == (p1, l1)
    assert resolve_relative(objs, 0, 0, sched) is None
    expect_errno(errno.EINVAL, resolve_relative, objs, l1, 0, sched)  # link fd, no LINK flag
    expect_errno(errno.EBADF, resolve_relative, objs, 7, 0, sched)  # unknown fd number
    expect_errno(errno.EBADF, resolve_relative, objs, 7, BPF_F_LINK, sched)
    expect_errno(errno.EINVAL, resolve_relative, objs, p2, 0, BPF_PROG_TYPE_SCHED_ACT)
    expect_errno(errno.EINVAL, resolve_relative, objs, l1, BPF_F_LINK, BPF_PROG_TYPE_SCHED_ACT)
    l1.close()
    expect_errno(errno.EBADF, resolve_relative, objs, l1, BPF_F_LINK, sched)
    with pytest.raises(TypeError):
        resolve_relative(objs, p2, BPF_F_ID, sched)


def test_detach_type_checks_relative_only_with_prog(objs):
    hook = MprogHook(objs, BPF_TCX_INGRESS)
    p1, p2 = tc_progs(objs, 2)
    hook.prog_attach(p1)
    hook.prog_attach(p2)
    # without a program no type check applies to the relative
    hook.prog_detach(None, BPF_F_AFTER, p1)
    assert hook.programs == (p1,)


def test_attach_type_must_be_mprog(objs):
    expect_errno(errno.EINVAL, MprogHook, objs, 0)


def test_run_stops_at_first_non_next(objs):
    hook = MprogHook(objs, BPF_TCX_INGRESS)
    seen: list[str] = []
    for name, ret in (("a", -1), ("b", 5), ("c", 0)):
        hook.prog_attach(objs.program(lambda ctx, n=name, r=ret: ctx.append(n) or r, name=name))
    assert hook.run(seen) == 5 and seen == ["a", "b"]  # unknown codes stop too
    assert MprogHook(objs, BPF_TCX_INGRESS).run(seen, next_code=-1) == -1
    assert hook.run(seen, next_code=5) == -1  # netkit-style custom NEXT value


def test_progs_view_rebuilt_only_on_mutation(objs):
    hook = MprogHook(objs, BPF_TCX_INGRESS)
    p1, p2, p3 = tc_progs(objs, 3)
    hook.prog_attach(p1)
    hook.prog_attach(p2)
    view = hook.progs
    assert view == (p1.func, p2.func)
    hook.prog_query()
    expect_errno(errno.EEXIST, hook.prog_attach, p1)
    link = hook.link_create(p3)
    assert hook.progs is not view and hook.progs == (p1.func, p2.func, p3.func)
    view = hook.progs
    expect_errno(errno.EEXIST, link.update, p1)
    link.update(link.prog)
    assert hook.progs is view
    hook.prog_detach(p1)
    assert hook.progs == (p2.func, p3.func)


def test_netkit_persistent_revision(objs):
    """netkit: revision survives empty periods but an empty hook queries as revision 1."""
    primary = MprogHook(objs, BPF_NETKIT_PRIMARY, persistent_entry=True)
    peer = MprogHook(objs, BPF_NETKIT_PEER, persistent_entry=True)
    p1, p2 = tc_progs(objs, 2)
    primary.link_create(p1)
    peer.link_create(p2)
    assert primary.revision == peer.revision == 2
    primary.prog_attach(p2, BPF_F_BEFORE, p1)
    assert primary.programs == (p2, p1) and primary.revision == 3
    primary.prog_detach(p2)
    primary.slots[0][1].detach()
    r = primary.prog_query()
    assert (r.count, r.revision) == (0, 1) and primary.entry is None
    expect_errno(errno.ENOENT, primary.prog_detach)
    expect_errno(errno.ESTALE, primary.prog_attach, p1, expected_revision=1)
    primary.prog_attach(p1, expected_revision=5)
    assert primary.revision == 6


def test_netkit_uninstall_keeps_bundle(objs):
    hook = MprogHook(objs, BPF_NETKIT_PRIMARY, persistent_entry=True)
    link = hook.link_create(tc_progs(objs, 1)[0])
    hook.uninstall()
    assert link.defunct and hook.count == 0 and hook.progs == ()
    assert hook.prog_query().revision == 1


def test_small_capacity_bundle_subclass(objs):
    class Small(MprogBundle):
        capacity = 2

    class SmallHook(MprogHook):
        __slots__ = ()
        bundle_class = Small

    hook = SmallHook(objs, BPF_TCX_INGRESS)
    p1, p2, p3 = tc_progs(objs, 3)
    hook.prog_attach(p1)
    hook.prog_attach(p2)
    expect_errno(errno.ERANGE, hook.prog_attach, p3)
    expect_errno(errno.ERANGE, hook.prog_detach)
    hook.prog_detach(p2)
    assert hook.programs == (p1,)


def test_link_type_checked_at_create(objs):
    hook = MprogHook(objs, BPF_TCX_INGRESS)
    act = objs.program(lambda ctx: 0, prog_type=BPF_PROG_TYPE_SCHED_ACT)
    expect_errno(errno.EINVAL, hook.link_create, act)
    expect_errno(errno.EINVAL, hook.link_create, "not a prog")
    assert list(objs.links()) == []


def test_link_subclass_is_used(objs):
    class TcxLink(Link):
        __slots__ = ()
        link_type = c.BPF_LINK_TYPE_TCX

    hook = MprogHook(objs, BPF_TCX_INGRESS, link_class=TcxLink)
    link = hook.link_create(tc_progs(objs, 1)[0])
    assert isinstance(link, TcxLink) and link.link_type == 11 and link.settled


def test_api_keywords_map_to_flags(objs):
    hook = Hook(objs, BPF_TCX_INGRESS)
    a, b, c_, d = tc_progs(objs)
    hook.attach(a)
    hook.attach(b, before=None)
    assert hook.programs == (b, a)
    link = hook.link(c_, after=b)
    hook.attach(d, before=link, expected_revision=4)
    assert hook.slots == ((b, None), (d, None), (c_, link), (a, None))
    info = hook.query()
    assert info.count == 4 and info.revision == 5
    assert info.prog_ids == (b.id, d.id, c_.id, a.id) and info.link_ids == (0, 0, link.id, 0)
    e = objs.program(lambda ctx: -1)
    hook.attach(e, replace=d, after=b)
    assert hook.programs == (b, e, c_, a)
    hook.detach(before=None)
    assert hook.programs == (e, c_, a)
    expect_errno(errno.EBUSY, hook.detach, after=e.id)  # the slot behind e is link-owned
    hook.detach(a, after=link)
    assert hook.slots == ((e, None), (c_, link))
    link.close()
    assert hook.programs == (e,) and hook.revision == 9


def test_position_args():
    objs = BpfObjects()
    p = objs.program(lambda ctx: 0)
    assert position_args() == (0, None)
    assert position_args(before=None, after=None) == (BPF_F_BEFORE | BPF_F_AFTER, None)
    assert position_args(before=p) == (BPF_F_BEFORE, p)
    assert position_args(after=3) == (BPF_F_AFTER | BPF_F_ID, 3)
    with pytest.raises(ValueError):
        position_args(before=p, after=objs.program(lambda ctx: 0))


def test_bench_returns_rates():
    result = bench_mprog(loops=50)
    assert set(result) == {"mprog_attach_detach_per_s", "mprog_query_per_s"}
    assert all(v > 0 for v in result.values())
