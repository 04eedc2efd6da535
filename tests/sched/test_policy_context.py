"""What a qdisc policy receives: the narrow ``sch``, kfuncs declared once, callbacks with signatures.

Each refusal names what was touched; each kfunc's registry entry, allow-list,
refusal and help text come from its one decorated method.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import pydoc
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qdisclab.cli import app
from qdisclab.errors import ExtensionFault, KernelError
from qdisclab.net import World
from qdisclab.ops import KFUNCS, RUNNING, Frame, KfuncContext, SkbList, SkbRbTree, kfunc, lookup
from qdisclab.ops.kfunc import KF_RELEASE
from qdisclab.sched import QDISC_OPS, QdiscOps, create_qdisc, register_qdisc, unregister_qdisc
from qdisclab.sched.context import QdiscContext
from qdisclab.skb import FREED, IPPROTO_UDP, SkBuff

ROOT = Path(__file__).resolve().parents[2]


class Fifo(QdiscOps):
    id = "t_ctxfifo"

    def init(self, sch, opt):
        self.q = SkbList()
        sch.limit = 10

    def enqueue(self, skb, sch, to_free):
        if sch.q.qlen >= sch.limit:
            return sch.drop(skb, to_free)
        self.q.push_back(skb)
        return 0

    def dequeue(self, sch):
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass


def _variant(name, **members):
    return type(name, (Fifo,), {"id": name, **members})


# -- help(), the registry and `qdisclab kfuncs` come from the declarations ------------------
def test_help_of_qdisc_ops_shows_each_callback_once_with_its_signature():
    text = pydoc.render_doc(QdiscOps, renderer=pydoc.plaintext)
    for line in (
        "enqueue(self, skb: 'SkBuff', sch: 'QdiscContext', to_free: 'ToFree') -> 'int'",
        "dequeue(self, sch: 'QdiscContext') -> 'SkBuff | None'",
        "init(self, sch: 'QdiscContext', opt: 'dict[str, Any]') -> 'int | None'",
        "reset(self, sch: 'QdiscContext') -> 'None'",
        "destroy(self, sch: 'QdiscContext') -> 'None'",
    ):
        assert text.count(line) == 1, line
    assert "Refused: the generic ``qdisc_peek_dequeued`` is forced" in text
    members = {m.name: m for m in QDISC_OPS.members.values()}
    assert [n for n, m in members.items() if m.mandatory] == [
        "enqueue", "dequeue", "init", "reset", "destroy"
    ]  # fmt: skip
    assert not members["peek"].supported and not members["dump"].supported


def test_help_of_sch_and_the_kfuncs_command_list_exactly_the_declared_kfuncs():
    declared = KFUNCS.of("Qdisc_ops")
    text = pydoc.render_doc(QdiscContext, renderer=pydoc.plaintext)
    for kf in declared:
        assert kf.func.__doc__.split("\n")[0].strip() in text
        assert text.count(f"\n |  {kf.method}(") == 1, kf.method
    result = CliRunner().invoke(app, ["kfuncs", "--json"])
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.output) if r["interface"] == "Qdisc_ops"]
    assert sorted(r["name"] for r in rows) == sorted(k.name for k in declared)
    assert len({r["name"] for r in rows}) == len(rows)
    drop = next(r for r in rows if r["name"] == "bpf_qdisc_skb_drop")
    assert drop["method"] == "sch.drop()" and drop["signature"].startswith("(skb: SkBuff, to_free")
    wide = CliRunner().invoke(app, ["kfuncs"], terminal_width=80)
    assert "bpf_qdisc_watchdog_schedule" in wide.output  # not cut at 80 columns


def test_one_decorated_method_is_the_registry_entry_the_allow_list_and_the_refusal():
    class DemoCtx(KfuncContext, interface="T_demo_ops", prefix="ctx"):
        __slots__ = ()

        @kfunc("bpf_t_demo_free", allowed={"enqueue"}, flags=KF_RELEASE)
        def free(self, skb):
            """Free it now."""
            return ("freed", skb)

    kf = lookup("bpf_t_demo_free")
    assert (kf.python, kf.interface, kf.flag_names(), kf.doc) == (
        "ctx.free()", "T_demo_ops", ["KF_RELEASE"], "Free it now."
    )  # fmt: skip
    assert kf.func(None, 1) == ("freed", 1)  # what a compiled program binds to
    assert KFUNCS.allowed_for("T_demo_ops", "enqueue") == {"bpf_t_demo_free"}
    assert KFUNCS.allowed_for("T_demo_ops", "dequeue") == frozenset()
    ctx = DemoCtx()
    outer = RUNNING.frame
    try:
        RUNNING.frame = Frame("demo", "enqueue", None, KFUNCS.allowed_for("T_demo_ops", "enqueue"))
        assert ctx.free(7) == ("freed", 7)
        RUNNING.frame = Frame("demo", "dequeue", None, KFUNCS.allowed_for("T_demo_ops", "dequeue"))
        with pytest.raises(ExtensionFault, match=r"ctx\.free\(\) \(kfunc bpf_t_demo_free\) is "
                           r"allowed only in enqueue, not in dequeue"):  # fmt: skip
            ctx.free(7)
    finally:
        RUNNING.frame = outer
    assert DemoCtx.unchecked().free(3) == ("freed", 3)  # policy off: no check at all


# -- the narrow sch ------------------------------------------------------------------
@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("sch.qlen += 5", "sch.qlen is read-only to a policy"),
        ("sch.backlog = 0", "sch.backlog is read-only to a policy"),
        ("sch.q.qlen += 1", "sch.qlen is read-only to a policy"),
        ("sch.qstats.backlog -= 1", "sch.backlog is read-only to a policy"),
        ("sch.handle = 3", "sch.handle is read-only to a policy"),
        ("sch.drops += 1", "sch.drops is read-only to a policy"),
        ("sch.qstats.packets = 0", "sch.packets is read-only to a policy"),
        ("sch.reset()", "sch.reset is infrastructure, not available to a policy"),
        ("sch.graft(1, 'pfifo')", "sch.graft is infrastructure"),
        ("sch.watchdog.cancel()", "sch.watchdog is infrastructure"),
        ("sch.mtu = 5", "sch.mtu is read-only to a policy"),
    ],
)
def test_writes_and_infrastructure_calls_from_a_policy_are_refused_naming_the_attribute(
    qbench, body, fragment
):
    def enqueue(self, skb, sch, to_free):
        exec(body)
        return Fifo.enqueue(self, skb, sch, to_free)

    q = qbench.graft(_variant("t_ctxbad", enqueue=enqueue))
    with pytest.raises(ExtensionFault) as info:
        q.enqueue(qbench.skb())
    assert fragment in str(info.value) and "t_ctxbad.enqueue" in str(info.value)


def test_a_counter_written_in_dequeue_is_refused_and_contain_keeps_the_books(qbench_contain):
    def dequeue(self, sch):
        sch.q.qlen += 1
        return self.q.pop_front()

    q = qbench_contain.graft(_variant("t_ctxdeq", dequeue=dequeue))
    for _ in range(3):
        qbench_contain.dev.xmit(qbench_contain.skb())
    qbench_contain.world.run(qbench_contain.world.now + 10**9)
    assert "t_ctxdeq.dequeue: sch.qlen is read-only to a policy" in q.fault
    assert q.qlen == 0 and qbench_contain.dev.qdisc.kind == "pfifo"
    qbench_contain.world.check_conservation()


def test_limit_overlimits_and_requeues_are_the_policys_to_write(qbench):
    def enqueue(self, skb, sch, to_free):
        sch.overlimits += 1
        sch.requeues += 2
        return Fifo.enqueue(self, skb, sch, to_free)

    q = qbench.graft(_variant("t_ctxok", enqueue=enqueue))
    q.enqueue(qbench.skb())
    assert (q.limit, q.overlimits, q.requeues, q.qlen) == (10, 1, 2, 1)
    assert q.ctx.dev.mtu == qbench.dev.mtu
    with pytest.raises(ExtensionFault, match=r"sch\.dev\.mtu is read-only"):
        q.ctx.dev.mtu = 9000


@pytest.mark.no_conservation_check
@pytest.mark.parametrize(
    ("ret", "fragment"),
    [
        (None, "enqueue returned None (NoneType), not a NET_XMIT_* code"),
        (7, "enqueue returned 7 (int), not a NET_XMIT_* code"),
        ("ok", "enqueue returned 'ok' (str), not a NET_XMIT_* code"),
    ],
)
def test_enqueue_returning_something_else_than_net_xmit_names_the_callback(qbench, ret, fragment):
    def enqueue(self, skb, sch, to_free):
        self.q.push_back(skb)
        return ret

    q = qbench.graft(_variant("t_ctxret", enqueue=enqueue))
    with pytest.raises(ExtensionFault) as info:
        q.enqueue(qbench.skb())
    assert str(info.value).startswith(f"t_ctxret.enqueue: {fragment}")


def test_contained_bad_return_frees_what_the_instance_held_and_books_balance(qbench_contain):
    def enqueue(self, skb, sch, to_free):
        self.q.push_back(skb)
        return None if sch.q.qlen >= 2 else 0

    q = qbench_contain.graft(_variant("t_ctxcont", enqueue=enqueue))
    for _ in range(4):
        qbench_contain.dev.xmit(qbench_contain.skb())
    assert "enqueue returned None" in q.fault
    assert qbench_contain.dev.qdisc.kind == "pfifo"
    qbench_contain.world.run(qbench_contain.world.now + 10**9)
    qbench_contain.world.check_conservation()


@pytest.mark.no_conservation_check
def test_writing_skb_len_in_enqueue_is_refused(qbench):
    def enqueue(self, skb, sch, to_free):
        skb.len = 1
        return Fifo.enqueue(self, skb, sch, to_free)

    q = qbench.graft(_variant("t_ctxlen", enqueue=enqueue))
    with pytest.raises(ExtensionFault, match=r"enqueue wrote skb.len \(1000 -> 1\): read-only"):
        q.enqueue(qbench.skb())


def _len_writer(where):
    """A fifo that writes skb.len in ``where``: dequeue, reset, or enqueue (of a queued skb)."""

    def dequeue(self, sch):
        skb = self.q.pop_front()
        if skb is not None and where == "dequeue":
            skb.len -= 100
        return skb

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            if where == "reset":
                skb.len = 1
            sch.kfree_skb(skb)

    def enqueue(self, skb, sch, to_free):
        head = self.q.peek_front()
        if head is not None and where == "enqueue":
            head.len += 1  # a queued skb, not the one entering
            victim = self.q.pop_front()
            sch.kfree_skb(victim)
        return Fifo.enqueue(self, skb, sch, to_free)

    return _variant(f"t_len_{where}", dequeue=dequeue, reset=reset, enqueue=enqueue)


@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
@pytest.mark.parametrize(
    ("where", "fragment"),
    [
        ("dequeue", "dequeue wrote skb.len (1000 -> 900)"),
        ("reset", "reset wrote skb.len (1000 -> 1)"),
        ("enqueue", "enqueue wrote skb.len (1000 -> 1001)"),
    ],
)
def test_writing_skb_len_is_refused_in_every_callback(qbench, where, fragment):
    q = qbench.graft(_len_writer(where))
    with pytest.raises(ExtensionFault) as info:
        for _ in range(2):
            q.enqueue(qbench.skb())
        q.dequeue()
        q.reset()
    assert f"t_len_{where}.{where}: {fragment}: read-only to a qdisc policy" in str(info.value)


def test_a_contained_len_write_in_dequeue_is_undone_and_the_books_balance(qbench_contain):
    q = qbench_contain.graft(_len_writer("dequeue"))
    for _ in range(3):
        qbench_contain.dev.xmit(qbench_contain.skb())
    qbench_contain.world.run(qbench_contain.world.now + 10**9)
    assert "dequeue wrote skb.len (1014 -> 914)" in q.fault  # the frame: 1000 + ETH_HLEN
    # The first packet met the fault (freed at its accounted length); a pfifo took the rest.
    assert (q.qlen, q.backlog) == (0, 0) and q.drop_reasons == {"fault": 1}
    assert qbench_contain.dev.qdisc.kind == "pfifo" and qbench_contain.dev.qdisc.packets == 2
    qbench_contain.world.check_conservation()


def test_a_watchdog_expiry_in_the_past_fires_now_and_time_never_goes_back(qbench):
    fired_at = []

    class Sleeper(Fifo):
        id = "t_ctxpast"

        def dequeue(self, sch):
            if not fired_at:
                fired_at.append(sch.now)
                sch.watchdog_schedule(sch.now - 1_000_000_000)
                return None
            fired_at.append(sch.now)
            return self.q.pop_front()

    world = qbench.world
    world.run(5_000_000)
    q = qbench.graft(Sleeper)
    before = world.now
    qbench.dev.xmit(qbench.skb())
    world.run(world.now + 10_000_000)
    assert fired_at[0] == before and fired_at[1] == before  # at once, not a second earlier
    assert world.now >= before and q.packets == 1


def test_policy_constructor_runs_inside_init_so_its_collections_are_contained(qbench_contain):
    class EarlyList(Fifo):
        id = "t_ctxearly"

        def __init__(self):
            self.q = SkbList()  # created before init: still this instance's

        def init(self, sch, opt):
            sch.limit = 10

        def dequeue(self, sch):
            raise RuntimeError("boom")

    q = qbench_contain.graft(EarlyList)
    skbs = [qbench_contain.skb() for _ in range(3)]
    for skb in skbs:
        q.enqueue(skb)
    q.dequeue()
    assert q.fault and all(s.owner is FREED for s in skbs)
    assert q.drop_reasons == {"fault": 3}
    qbench_contain.world.check_conservation()


# -- registration of an edited class ---------------------------------------------------
def test_reregistering_an_edited_class_replaces_it_and_another_class_gets_eexist(qbench):
    def define(limit):
        def init(self, sch, opt):
            self.q = SkbList()
            sch.limit = limit

        return type("Edited", (Fifo,), {"id": "t_ctxedit", "init": init})

    first = define(3)
    register_qdisc(first)
    try:
        live = qbench.graft("t_ctxedit")
        second = define(4)  # the cell runs again: same name, same module
        assert register_qdisc(second) is second
        assert QDISC_OPS.lookup("t_ctxedit") is second
        assert live.limit == 3 and type(live.ops) is first  # live instances keep theirs
        assert qbench.graft("t_ctxedit").limit == 4
        other = type("SomethingElse", (Fifo,), {"id": "t_ctxedit"})
        with pytest.raises(KernelError) as info:
            register_qdisc(other)
        assert info.value.errno == errno.EEXIST
    finally:
        unregister_qdisc("t_ctxedit")


# -- collections with a lifetime ---------------------------------------------------------
def _load_sfq():
    path = ROOT / "examples" / "qdiscs" / "sfq.py"
    spec = importlib.util.spec_from_file_location("example_sfq_ctx", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if QDISC_OPS.lookup(module.Sfq.id) is None:
        register_qdisc(module.Sfq)
    return module


def _sfq_run(seed: int, seconds: int = 10):
    from qdisclab.net import World
    from qdisclab.sched import create_qdisc
    from qdisclab.skb import IPPROTO_UDP, SkBuff

    _load_sfq()
    world = World(seed=seed)
    a, b = world.add_host("A"), world.add_host("B")
    dev = world.connect(a, b, "10mbit", "1ms").a
    world.build_routes()
    books = world.flow_books("sfq")
    q = dev.set_qdisc(create_qdisc("sfq_rehash limit 60 perturb 10ms", dev))
    most = 0
    step = 1_000_000  # 1 ms: 20 flows, one 1000 B packet each per ms (160 Mbit/s offered)
    for t in range(seconds * 1000):
        world.run(t * step)
        for flow in range(20):
            skb = SkBuff(1000, a.addr, b.addr, 1000 + flow, 9, IPPROTO_UDP, world.now, books)
            books.book_sent(skb)
            dev.xmit(skb)
        most = max(most, len(q.storage))
    world.run(seconds * 1000 * step + 100_000_000)
    world.check_conservation()
    return q, most


@pytest.mark.slow
def test_sfq_rehashing_every_10ms_for_10s_holds_a_bounded_number_of_collections():
    q, most = _sfq_run(seed=1)
    assert len(q.ops.perturbations) > 900  # it did rehash about every 10 ms
    assert q.drops > 0 and q.packets > 10_000  # overloaded: the limit was reached
    # Each rehash leaves up to 20 lists behind; without a lifetime that is ~20,000.
    assert most < 400, most


def test_two_runs_with_one_seed_draw_the_same_random_u32_and_another_seed_differs():
    draws = [_sfq_run(seed, seconds=1)[0].ops.perturbations for seed in (5, 5, 6)]
    assert draws[0] == draws[1] and len(draws[0]) > 50
    assert draws[0] != draws[2]
    assert all(0 <= x < 2**32 for x in draws[0])


@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
def test_a_collection_freed_while_holding_skbs_is_a_violation_naming_it(qbench):
    class FreesFull(Fifo):
        id = "t_ctxfree"

        def enqueue(self, skb, sch, to_free):
            self.q.push_back(skb)
            self.q.free()
            return 0

    q = qbench.graft(FreesFull)
    with pytest.raises(ExtensionFault, match=r"SkbList.free\(\): freed while holding 1 skb"):
        q.enqueue(qbench.skb())


def test_an_explicitly_freed_empty_collection_leaves_the_instance(qbench):
    class FreesEmpty(Fifo):
        id = "t_ctxfree2"

        def enqueue(self, skb, sch, to_free):
            extra = SkbList()
            extra.free()
            return Fifo.enqueue(self, skb, sch, to_free)

    q = qbench.graft(FreesEmpty)
    for _ in range(3):
        q.enqueue(qbench.skb())
    assert list(q.storage) == [q.ops.q]


def test_rbtree_orders_plain_nodes_that_own_skb_lists(qbench):
    class Flow:
        __slots__ = ("q", "vtime")

        def __init__(self):
            self.q = SkbList()
            self.vtime = 0

    class Wfq(Fifo):
        id = "t_ctxwfq"

        def init(self, sch, opt):
            self.flows = {}
            self.tree = SkbRbTree()
            sch.limit = 100

        def enqueue(self, skb, sch, to_free):
            f = self.flows.get(skb.sport)
            if f is None:
                f = self.flows[skb.sport] = Flow()
            if not f.q:
                self.tree.add((f.vtime, skb.sport), f)
            f.q.push_back(skb)
            return 0

        def dequeue(self, sch):
            f = self.tree.pop_first()
            if f is None:
                return None
            skb = f.q.pop_front()
            f.vtime += skb.len
            if f.q:
                self.tree.add((f.vtime, skb.sport), f)
            return skb

        def reset(self, sch):
            while (f := self.tree.pop_first()) is not None:
                while (skb := f.q.pop_front()) is not None:
                    sch.kfree_skb(skb)

    q = qbench.graft(Wfq)
    for sport, length in ((1, 1000), (1, 1000), (2, 300), (2, 300), (2, 300)):
        q.enqueue(qbench.skb(length=length, sport=sport))
    out = [q.dequeue() for _ in range(5)]
    assert [(s.sport, s.len) for s in out] == [(1, 1000), (2, 300), (2, 300), (2, 300), (1, 1000)]
    qbench.consume(*out)
    assert q.qlen == 0


@pytest.mark.parametrize("policy", ["strict", "off"])
def test_a_reset_frees_as_qdisc_reset_under_every_policy(policy):
    w = World(seed=1, policy=policy)
    dev = w.new_device(w.add_host("A"))
    books = w.flow_books("f")
    q = create_qdisc("pfifo limit 100", dev)
    for _ in range(7):
        skb = SkBuff(1000, 1, 2, 1, 2, IPPROTO_UDP, 0, books)
        books.book_sent(skb)
        q.enqueue(skb)
    q.reset()
    assert q.drop_reasons == {"qdisc_reset": 7} and q.qlen == 0


@pytest.mark.parametrize("callback", ["reset", "destroy"])
def test_a_kfunc_outside_its_allow_list_is_refused_in_reset_and_destroy(qbench, callback):
    # Their frames are made when first run; each still carries its callback's allow-list.
    def body(self, sch):
        sch.watchdog_schedule(sch.now + 1)

    q = qbench.graft(_variant(f"t_wd_in_{callback}", **{callback: body}))
    with pytest.raises(ExtensionFault, match=rf"watchdog_schedule.*not in {callback}"):
        q.destroy()
