"""Qdisc_ops as struct_ops: registration errnos, kfunc allow-lists, ownership, lifecycle.

Each kind of bad registration gets the kernel's errno; each ownership
violation is caught under ``strict`` and contained (with balanced books)
under ``contain``. These mirror the kernel's must-fail selftests.
"""

from __future__ import annotations

import errno

import pytest

from qdisclab.errors import ENOTSUPP, ExtensionFault, KernelError
from qdisclab.ops import SkbList
from qdisclab.sched import (
    NET_XMIT_SUCCESS,
    QDISC_OPS,
    QdiscOps,
    register_qdisc,
    unregister_qdisc,
    update_qdisc,
)
from qdisclab.skb import DROP_FAULT


class GoodFifo(QdiscOps):
    id = "t_good"

    def init(self, sch, opt):
        self.q = SkbList()
        sch.limit = 5

    def enqueue(self, skb, sch, to_free):
        if sch.q.qlen >= sch.limit:
            return sch.drop(skb, to_free)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass


def _variant(name, **members):
    return type(name, (GoodFifo,), {"id": name, **members})


@pytest.fixture
def registered():
    names = []

    def register(cls):
        register_qdisc(cls)
        names.append(cls.id)
        return cls

    yield register
    for name in names:
        if QDISC_OPS.lookup(name) is not None:
            unregister_qdisc(name)


# -- registration -------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["enqueue", "dequeue", "init", "reset", "destroy"])
def test_missing_mandatory_member_is_einval(missing):
    cls = type("Incomplete", (QdiscOps,), {"id": "t_incompl", **{
        m: getattr(GoodFifo, m) for m in ("enqueue", "dequeue", "init", "reset", "destroy") if m != missing
    }})  # fmt: skip
    with pytest.raises(KernelError) as info:
        register_qdisc(cls)
    assert info.value.errno == errno.EINVAL
    assert f"'{missing}'" in str(info.value) and "Incomplete" in str(info.value)


@pytest.mark.parametrize(
    "member", ["peek", "change", "attach", "dump", "dump_stats", "change_tx_queue_len"]
)
def test_member_the_interface_does_not_open_is_enotsupp(member):
    cls = _variant("t_unsupp", **{member: lambda self, *a: None})
    with pytest.raises(KernelError) as info:
        register_qdisc(cls)
    assert info.value.errno == ENOTSUPP
    assert f"'{member}'" in str(info.value)


@pytest.mark.parametrize("field", ["priv_size", "static_flags"])
def test_nonzero_data_member_is_einval(field):
    with pytest.raises(KernelError) as info:
        register_qdisc(_variant("t_data", **{field: 8}))
    assert info.value.errno == errno.EINVAL and field in str(info.value)


@pytest.mark.parametrize("bad_id", ["", "has space", "x" * 16, "dash-ed", "ümlaut"])
def test_bad_id_is_einval(bad_id):
    cls = type("BadId", (GoodFifo,), {"id": bad_id})
    with pytest.raises(KernelError) as info:
        register_qdisc(cls)
    assert info.value.errno == errno.EINVAL


def test_duplicate_id_is_eexist_including_builtins(registered):
    registered(_variant("t_dup"))
    with pytest.raises(KernelError) as info:
        register_qdisc(type("OtherDup", (GoodFifo,), {"id": "t_dup"}))
    assert info.value.errno == errno.EEXIST
    with pytest.raises(KernelError) as info:
        register_qdisc(type("MyPfifo", (GoodFifo,), {"id": "pfifo"}))
    assert info.value.errno == errno.EEXIST


def test_unregister_leaves_live_instances_working(registered, qbench):
    registered(_variant("t_unreg"))
    q = qbench.graft("t_unreg")
    unregister_qdisc("t_unreg")
    q.enqueue(qbench.skb())
    skb = q.dequeue()
    assert skb is not None
    qbench.consume(skb)
    with pytest.raises(Exception, match="unknown qdisc kind 't_unreg'"):
        qbench.graft("t_unreg")


def test_update_in_place_new_instances_get_new_class_and_id_change_is_rejected(registered, qbench):
    old = registered(_variant("t_upd"))
    first = qbench.graft("t_upd")

    class Newer(old):
        id = "t_upd"

        def init(self, sch, opt):
            super().init(sch, opt)
            sch.limit = 77

    update_qdisc("t_upd", Newer)
    second = qbench.graft("t_upd")
    assert type(first.ops) is old and first.limit == 5
    assert type(second.ops) is Newer and second.limit == 77
    with pytest.raises(KernelError) as info:
        update_qdisc("t_upd", _variant("t_other"))
    assert info.value.errno == errno.EINVAL


# -- kfunc allow-lists ------------------------------------------------------------------
def test_drop_called_from_dequeue_is_refused_naming_kfunc_and_callback(qbench):
    class DropInDequeue(GoodFifo):
        id = "t_dropdq"

        def dequeue(self, sch):
            skb = self.q.pop_front()
            if skb is not None:
                sch.drop(skb, None)
            return None

    q = qbench.graft(DropInDequeue)
    q.enqueue(qbench.skb())
    with pytest.raises(ExtensionFault) as info:
        q.dequeue()
    assert str(info.value) == (  # names the method, the kfunc, and what to use instead
        "t_dropdq.dequeue: sch.drop() (kfunc bpf_qdisc_skb_drop) is allowed only in "
        "enqueue, not in dequeue; in dequeue use sch.kfree_skb()"
    )


@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
def test_create_child_only_from_init_and_watchdog_not_from_reset(qbench):
    class ChildInEnqueue(GoodFifo):
        id = "t_childenq"

        def enqueue(self, skb, sch, to_free):
            sch.create_child(1, "pfifo")
            return super().enqueue(skb, sch, to_free)

    q = qbench.graft(ChildInEnqueue)
    with pytest.raises(
        ExtensionFault,
        match=r"sch\.create_child\(\) \(kfunc bpf_qdisc_create_child\) is allowed only in init, not in enqueue",
    ):
        q.enqueue(qbench.skb())

    class WatchdogInReset(GoodFifo):
        id = "t_wdreset"

        def reset(self, sch):
            sch.watchdog_schedule(sch.now + 10)

    q = qbench.graft(WatchdogInReset)
    with pytest.raises(
        ExtensionFault,
        match=r"sch\.watchdog_schedule\(\) \(kfunc bpf_qdisc_watchdog_schedule\) is allowed only in "
        r"dequeue, enqueue, not in reset",
    ):
        q.reset()


# -- ownership: strict -------------------------------------------------------------------
class Leak(GoodFifo):
    id = "t_leak"

    def enqueue(self, skb, sch, to_free):
        self.stash = skb  # neither queued nor dropped
        return NET_XMIT_SUCCESS


class DoubleEnqueue(GoodFifo):
    id = "t_double"

    def enqueue(self, skb, sch, to_free):
        self.q.push_back(skb)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS


class ForgedDequeue(GoodFifo):
    id = "t_forged"

    def dequeue(self, sch):
        return self.q.peek_front()  # still owned by the list


class NotAnSkb(GoodFifo):
    id = "t_notskb"

    def dequeue(self, sch):
        return "a string" if self.q else None


class UseAfterDrop(GoodFifo):
    id = "t_uaf"

    def enqueue(self, skb, sch, to_free):
        sch.drop(skb, to_free)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS


class DequeueLeak(GoodFifo):
    id = "t_dqleak"

    def dequeue(self, sch):
        self.q.pop_front()  # popped and forgotten
        return None


class Raises(GoodFifo):
    id = "t_raises"

    def enqueue(self, skb, sch, to_free):
        raise RuntimeError("policy bug")


BROKEN = [
    (Leak, "enqueue", "leak"),
    (DoubleEnqueue, "enqueue", "still queued"),
    (ForgedDequeue, "dequeue", "does not own"),
    (NotAnSkb, "dequeue", "str, not an owned skb"),
    (UseAfterDrop, "enqueue", "already dropped"),
    (DequeueLeak, "dequeue", "leak"),
    (Raises, "enqueue", "RuntimeError: policy bug"),
]


@pytest.mark.no_conservation_check  # strict stops the run: the world is abandoned mid-flight
@pytest.mark.parametrize(("cls", "callback", "fragment"), BROKEN, ids=[b[0].id for b in BROKEN])
def test_violation_stops_under_strict_with_kind_callback_and_packet(
    qbench, cls, callback, fragment
):
    q = qbench.graft(cls)
    with pytest.raises(ExtensionFault) as info:
        q.enqueue(qbench.skb(length=777))
        q.enqueue(qbench.skb(length=777))
        q.dequeue()
    err = info.value
    assert err.kind == cls.id and err.callback == callback
    assert fragment in str(err)
    if cls is not NotAnSkb and cls is not Raises:
        assert "len 777" in err.packet and "flow bench" in err.packet


@pytest.mark.parametrize(("cls", "callback", "fragment"), BROKEN, ids=[b[0].id for b in BROKEN])
def test_violation_is_contained_books_balance_and_pfifo_takes_over(
    qbench_contain, cls, callback, fragment
):
    bench = qbench_contain
    faulty = bench.graft(cls)
    for _ in range(3):
        bench.dev.xmit(bench.skb())
    bench.world.run()
    assert faulty.fault is not None and fragment in faulty.fault
    assert bench.dev.qdisc is not faulty and bench.dev.qdisc.kind == "pfifo"
    # the network keeps running on the fallback
    bench.dev.xmit(bench.skb())
    bench.world.run()
    books = bench.world.check_conservation()
    assert books["in_flight"] == 0
    # whatever the instance held at the fault is freed as a fault drop (a use after
    # drop holds nothing: its packet was already dropped)
    assert books["dropped"].get(DROP_FAULT, 0) >= (0 if cls is UseAfterDrop else 1)
    assert bench.world.faults and bench.world.faults[0][1] == cls.id


# -- lifecycle -------------------------------------------------------------------------------
def test_reset_then_destroy_order_and_qlen_zero(qbench):
    calls = []

    class Tracing(GoodFifo):
        id = "t_trace"

        def reset(self, sch):
            calls.append("reset")
            super().reset(sch)

        def destroy(self, sch):
            calls.append(("destroy", sch.qlen))

    q = qbench.graft(Tracing)
    for _ in range(3):
        q.enqueue(qbench.skb())
    assert q.qlen == 3 and q.backlog == 3000
    q.destroy()
    assert calls == ["reset", ("destroy", 0)]
    assert q.backlog == 0 and q.drop_reasons == {"qdisc_reset": 3}


def test_device_down_resets_the_root_qdisc(qbench):
    q = qbench.graft(GoodFifo)
    qbench.dev.busy_until = 10**12  # keep packets queued
    for _ in range(2):
        qbench.dev.xmit(qbench.skb())
    assert q.qlen == 2
    qbench.dev.set_down()
    assert q.qlen == 0 and q.drops == 2


def test_init_failure_calls_destroy_and_fails_creation(qbench):
    calls = []

    class BadInit(GoodFifo):
        id = "t_badinit"

        def init(self, sch, opt):
            return -errno.ENOMEM

        def destroy(self, sch):
            calls.append("destroy")

    with pytest.raises(Exception, match="ENOMEM"):
        qbench.graft(BadInit)
    assert calls == ["destroy"]


def test_qlen_excludes_the_skb_being_enqueued_like_the_kernel(qbench):
    seen = []

    class Peek(GoodFifo):
        id = "t_qlen"

        def enqueue(self, skb, sch, to_free):
            seen.append((sch.q.qlen, sch.qstats.backlog))
            return super().enqueue(skb, sch, to_free)

    q = qbench.graft(Peek)
    for _ in range(7):
        q.enqueue(qbench.skb(length=100))
    assert seen == [(i, 100 * i) for i in range(5)] + [(5, 500), (5, 500)]
    assert q.qlen == 5 and q.drops == 2 and q.backlog == 500


def test_generic_peek_parks_the_skb_and_keeps_accounting(qbench):
    q = qbench.graft(GoodFifo)
    a, b = qbench.skb(), qbench.skb()
    q.enqueue(a)
    q.enqueue(b)
    assert q.peek() is a and q.peek() is a
    assert q.qlen == 2 and q.packets == 0
    assert q.dequeue() is a and q.dequeue() is b
    qbench.consume(a, b)
    assert q.qlen == 0 and q.packets == 2 and q.bytes == 2000


def test_kfuncs_command_lists_allow_lists():
    import json

    from typer.testing import CliRunner

    from qdisclab.cli import app

    result = CliRunner().invoke(app, ["kfuncs", "--json"])
    assert result.exit_code == 0, result.output
    table = {row["name"]: row for row in json.loads(result.output)}
    assert table["bpf_qdisc_skb_drop"]["allowed"] == ["enqueue"]
    assert table["bpf_qdisc_skb_drop"]["flags"] == ["KF_RELEASE"]
    assert table["bpf_qdisc_watchdog_schedule"]["allowed"] == ["dequeue", "enqueue"]
    assert table["bpf_qdisc_dequeue"]["flags"] == ["KF_ACQUIRE", "KF_RET_NULL"]


def test_skb_data_is_a_read_only_view_and_refused_after_release(qbench):
    seen = []

    class Reader(GoodFifo):
        id = "t_reader"

        def enqueue(self, skb, sch, to_free):
            view = sch.skb_data(skb)
            seen.append(bytes(view[:4]))
            with pytest.raises(TypeError):
                view[0] = 0  # struct_ops get the read-only dynptr
            if skb.mark == 1:  # drop, then touch the released skb
                sch.drop(skb, to_free)
                sch.skb_data(skb)
            return super().enqueue(skb, sch, to_free)

    q = qbench.graft(Reader)
    skb = qbench.skb()
    skb.payload = b"GET / HTTP/1.1"
    q.enqueue(skb)
    assert seen == [b"GET "]
    bad = qbench.skb()
    bad.mark = 1
    with pytest.raises(ExtensionFault, match="already released"):
        q.enqueue(bad)
