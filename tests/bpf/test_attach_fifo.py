"""The BPF FIFO as a qdisc kind, on both engines, driven packet by packet."""

from __future__ import annotations

import re

import pytest
from bpf_corpus import obj

from qdisclab.bpf.bpf_qdisc import attach_qdisc, qdisc_kind
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.objects import load_object
from qdisclab.errors import ExtensionFault, UserError
from qdisclab.net import World
from qdisclab.sched import create_qdisc
from qdisclab.sched.constants import NET_XMIT_DROP, NET_XMIT_SUCCESS
from qdisclab.skb import DROP_RESET, FREED, IPPROTO_UDP, SkBuff, skb_consume

FIFO = load_object(obj("fifo"))


class Device:
    def __init__(self, policy: str = "strict") -> None:
        self.world = World(seed=1, policy=policy)
        a, b = self.world.add_host("A"), self.world.add_host("B")
        self.dev = self.world.connect(a, b, "1gbit", "1ms").a
        self.books = self.world.flow_books("t")
        self.src, self.dst = a.addr, b.addr

    def skb(self, length: int = 1000) -> SkBuff:
        skb = SkBuff(length, self.src, self.dst, 1, 2, IPPROTO_UDP, self.world.now, self.books)
        self.books.book_sent(skb)
        return skb

    def graft(self, spec):
        q = create_qdisc(spec, self.dev)
        self.dev.set_qdisc(q)
        return q


def test_attach_registers_the_kind_by_its_id_once():
    kind = attach_qdisc(obj("fifo"))
    assert kind.id == "bpf_fifo" and kind.engine == "translate"
    assert attach_qdisc(obj("fifo")) is kind
    with pytest.raises(UserError, match="unknown BPF engine"):
        qdisc_kind(FIFO, engine="jit")


@pytest.mark.parametrize("engine", ["translate", "interp"])
def test_fifo_order_limit_and_drops_equal_pfifo(engine):
    results = []
    for spec in ("pfifo limit 3", qdisc_kind(FIFO, engine=engine)):
        d = Device()
        q = d.graft(spec) if isinstance(spec, str) else create_qdisc(spec, d.dev, opt={"limit": 3})
        skbs = [d.skb(100 * (i + 1)) for i in range(5)]
        rets = [q.enqueue(s) for s in skbs]
        assert (q.qlen, q.backlog) == (3, 600)
        out = []
        while (s := q.dequeue()) is not None:
            out.append(s)
        assert out == skbs[:3]  # the very SkBuff objects, oldest first
        for s in out:
            skb_consume(s)
        results.append((rets, q.drops, q.drop_reasons, q.packets, q.bytes, q.limit))
    assert results[0] == results[1]
    assert results[0][0] == [NET_XMIT_SUCCESS] * 3 + [NET_XMIT_DROP] * 2


def test_default_limit_is_the_device_txqueuelen():
    d = Device()
    q = create_qdisc(qdisc_kind(FIFO), d.dev, opt={})
    assert q.limit == d.dev.tx_queue_len == 1000


def test_reset_frees_what_is_queued():
    d = Device()
    q = create_qdisc(qdisc_kind(FIFO), d.dev, opt={"limit": 10})
    d.dev.set_qdisc(q)
    for _ in range(4):
        q.enqueue(d.skb())
    q.reset()
    assert (q.qlen, q.backlog, q.drop_reasons) == (0, 0, {DROP_RESET: 4})
    assert q.dequeue() is None


@pytest.mark.no_conservation_check  # strict stops at the fault, mid-enqueue
def test_budget_fault_names_program_insn_and_line_under_strict():
    d = Device()
    q = create_qdisc(qdisc_kind(FIFO, budget=20), d.dev, opt={"limit": 10})
    d.dev.set_qdisc(q)
    with pytest.raises(ExtensionFault) as caught:
        q.enqueue(d.skb())
    text = str(caught.value)
    assert text.startswith("bpf_fifo.enqueue: fifo_enqueue: insn ")
    assert "instruction budget of 20 exhausted" in text and "fifo.bpf.c:" in text
    assert "skb 10." in text


def test_budget_fault_is_contained_like_a_python_fault():
    d = Device(policy="contain")
    q = create_qdisc(qdisc_kind(FIFO, budget=20), d.dev, opt={"limit": 10})
    d.dev.set_qdisc(q)
    skb = d.skb()
    assert q.enqueue(skb) == NET_XMIT_DROP
    assert "instruction budget" in q.fault and d.dev.qdisc.kind == "pfifo"
    assert skb.owner is FREED  # freed as a fault drop: the books balance (checked after the test)


def test_an_object_without_a_qdisc_is_refused():
    with pytest.raises(BpfLoadError, match="no struct Qdisc_ops"):
        qdisc_kind(load_object(obj("tc_count_mark")))


@pytest.mark.parametrize(("kind", "builtin"), [("bpf_fifo", "pfifo"), ("bpf_fq", "fq")])
def test_bench_row_drives_the_attached_qdisc_on_both_engines(kind, builtin):
    from qdisclab.bench import Budget, bench_bpf_qdisc

    out = getattr(bench_bpf_qdisc, f"{kind}_qdisc")(Budget(quick=True))
    assert set(out) == {
        f"{kind}_qdisc_{engine}_{what}"
        for engine in ("translate", "interp")
        for what in ("pairs_per_s", f"over_{builtin}")
    }
    assert all(value > 0 for value in out.values())


def test_translated_enqueue_and_dequeue_are_the_programs_own_functions():
    d = Device()
    q = create_qdisc(qdisc_kind(FIFO), d.dev, opt={"limit": 10})
    # The trampolines call the translated code itself: no wrapper method in between.
    assert q.ops.enqueue.__code__.co_filename == "<bpf fifo_enqueue>"
    assert q.ops.dequeue.__code__.co_filename == "<bpf fifo_dequeue>"
    interp = create_qdisc(qdisc_kind(FIFO, engine="interp"), Device().dev, opt={"limit": 10})
    assert interp.ops.enqueue.__func__ is type(interp.ops).enqueue


@pytest.mark.no_conservation_check  # the dequeued skbs go nowhere
def test_translated_enqueue_stores_the_skb_it_was_handed_without_looking_it_up():
    from qdisclab.bpf.image import leaves_views_mapped

    d = Device()
    q = create_qdisc(qdisc_kind(FIFO), d.dev, opt={"limit": 10})
    # Only bpf_obj_new runs before bpf_kptr_xchg, and it frees no skb: R8 still names
    # the skb enqueue was handed, which the exchange stores without a lookup by address.
    names = q.ops.enqueue.__code__.co_names
    assert "q_skbs" in names and not any(re.fullmatch(r"s\d+_skbs", n) for n in names)
    kfuncs = q.ops.env.kfuncs()
    assert leaves_views_mapped(kfuncs["bpf_obj_new_impl"])
    assert not any(leaves_views_mapped(kfuncs[k]) for k in ("bpf_kfree_skb", "bpf_qdisc_skb_drop",
                                                           "bpf_obj_drop_impl"))  # fmt: skip
    skbs = [d.skb(100 + n) for n in range(3)]
    for skb in skbs:
        assert q.enqueue(skb) == NET_XMIT_SUCCESS
    assert [q.dequeue() for _ in range(4)] == [*skbs, None]


@pytest.mark.no_conservation_check  # strict stops at the fault, mid-enqueue
def test_a_kfunc_fault_in_translated_enqueue_names_qdisc_program_insn_line_and_skb():
    d = Device()
    q = create_qdisc(qdisc_kind(FIFO), d.dev, opt={"limit": 1})
    d.dev.set_qdisc(q)
    q.enqueue(d.skb())
    q.ops.env.to_free_addr += 8  # the program's to_free is no longer the call's: a fault
    with pytest.raises(ExtensionFault) as caught:
        q.enqueue(d.skb(300))  # over the limit: bpf_qdisc_skb_drop(skb, to_free)
    text = str(caught.value)
    assert text.startswith("bpf_fifo.enqueue: fifo_enqueue: insn ")
    assert "is not this call's to_free" in text and "fifo.bpf.c:" in text
    assert "skb 10." in text and " 300" in text  # the packet enqueue was handed


@pytest.mark.no_conservation_check  # strict stops at the fault, mid-dequeue
def test_translated_dequeue_of_an_unmapped_skb_is_a_fault_naming_dequeue():
    d = Device()
    q = create_qdisc(qdisc_kind(FIFO), d.dev, opt={"limit": 4})
    d.dev.set_qdisc(q)
    skb = d.skb()
    q.enqueue(skb)
    views = q.ops.env.views
    addr = views.tables("sk_buff")[0][skb]
    del views.skbs[addr]  # the address the node holds no longer leads to the skb
    with pytest.raises(ExtensionFault) as caught:
        q.dequeue()
    # Its read of skb->len feeds only the backlog qdisclab keeps, so it does not run (the
    # verifier proved it safe): the address is found wrong where the program returns it.
    text = str(caught.value)
    assert text.startswith("bpf_fifo.dequeue: fifo_dequeue: returned at insn 31 ")
    assert f"{addr:#x} is not a pointer to struct sk_buff" in text and "fifo.bpf.c:69: " in text


@pytest.mark.no_conservation_check  # strict stops at the fault, mid-dequeue
def test_translated_dequeue_returning_an_skb_it_does_not_own_names_where_it_returned():
    d = Device()
    q = create_qdisc(qdisc_kind(FIFO), d.dev, opt={"limit": 4})
    d.dev.set_qdisc(q)
    q.enqueue(d.skb())
    for allocation in q.ops.env.objects.values():  # its node hands the skb to nobody
        allocation.node._checked = False
    with pytest.raises(ExtensionFault) as caught:
        q.dequeue()
    text = str(caught.value)
    assert "fifo_dequeue: returned at " in text and "fifo.bpf.c:" in text
    assert "dequeue returned an skb it does not own" in text
