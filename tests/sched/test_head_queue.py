"""The qdisc's own queue (``sch->q``) and its helpers: what they allow, refuse and account."""

from __future__ import annotations

import pytest

from qdisclab.errors import ExtensionFault
from qdisclab.ops import SkbList
from qdisclab.ops.ownership import OwnershipViolation
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps
from qdisclab.sched.headq import HEAD_QUEUE_HELPERS, QdiscSkbHead
from qdisclab.sched.ops import HeadQueueOps, qdisc_dequeue_head, qdisc_reset_queue
from qdisclab.sched.qdiscs.pfifo import Pfifo


class HeadFifo(QdiscOps):
    """A user fifo on ``sch->q`` with the generic dequeue and reset."""

    id = "t_headfifo"

    def init(self, sch, opt):
        sch.limit = opt.get("limit", 100)

    def enqueue(self, skb, sch, to_free):
        if sch.q.qlen >= sch.limit:
            return sch.drop(skb, to_free)
        return sch.enqueue_tail(skb)

    dequeue = qdisc_dequeue_head
    reset = qdisc_reset_queue

    def destroy(self, sch):
        pass


def _drain(q):
    out = []
    while (skb := q.dequeue()) is not None:
        out.append(skb)
    return out


def test_pfifo_queues_on_its_own_queue_in_order_and_accounts_it(qbench):
    q = qbench.graft("pfifo limit 3")
    skbs = [qbench.skb(length=100 + i) for i in range(4)]
    verdicts = [q.enqueue(skb) for skb in skbs]
    assert verdicts[:3] == [NET_XMIT_SUCCESS] * 3 and verdicts[3] != NET_XMIT_SUCCESS
    assert all(s.owner is q.head for s in skbs[:3]) and len(q.head) == 3
    assert (q.qlen, q.backlog, q.drops) == (3, 100 + 101 + 102, 1)
    out = _drain(q)
    assert out == skbs[:3] and all(s.owner is None for s in out)  # handed to the stack
    assert (q.qlen, q.backlog, q.packets, q.bytes) == (0, 0, 3, 303)
    qbench.consume(*out)


def test_a_user_kind_naming_the_generic_dequeue_runs_it_without_a_policy_frame(qbench):
    q = qbench.graft(HeadFifo)
    assert type(q.ops).dequeue is qdisc_dequeue_head
    skb = qbench.skb()
    q.enqueue(skb)
    assert q.dequeue() is skb and q.qlen == 0 and not q._frames["dequeue"].acquired
    qbench.consume(skb)


def test_enqueue_tail_outside_enqueue_is_refused_naming_the_helper_and_callback(qbench):
    class TailInDequeue(HeadFifo):
        id = "t_head_tail_deq"

        def dequeue(self, sch):
            skb = sch.dequeue_head()
            if skb is not None:
                sch.enqueue_tail(skb)
            return None

    q = qbench.graft(TailInDequeue)
    q.enqueue(qbench.skb())
    with pytest.raises(ExtensionFault, match=r"sch\.enqueue_tail\(\) \(qdisc_enqueue_tail\) is "
                       r"allowed only in enqueue, not in dequeue"):  # fmt: skip
        q.dequeue()


@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
def test_enqueue_tail_twice_is_a_double_insertion(qbench):
    class Twice(HeadFifo):
        id = "t_head_twice"

        def enqueue(self, skb, sch, to_free):
            sch.enqueue_tail(skb)
            return sch.enqueue_tail(skb)

    q = qbench.graft(Twice)
    with pytest.raises(OwnershipViolation, match="still queued in a collection"):
        q.enqueue(qbench.skb())


@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
def test_an_skb_still_in_a_list_cannot_go_on_the_queue_too(qbench):
    class ListAndHead(HeadFifo):
        id = "t_head_list"

        def init(self, sch, opt):
            self.q = SkbList()

        def enqueue(self, skb, sch, to_free):
            self.q.push_back(skb)
            return sch.enqueue_tail(skb)

    q = qbench.graft(ListAndHead)
    with pytest.raises(OwnershipViolation, match="still queued in a collection"):
        q.enqueue(qbench.skb())


@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
def test_a_head_popped_and_kept_is_a_leak(qbench):
    class Keeps(HeadFifo):
        id = "t_head_keeps"

        def dequeue(self, sch):
            self.kept = sch.dequeue_head()
            return None

    q = qbench.graft(Keeps)
    q.enqueue(qbench.skb())
    with pytest.raises(OwnershipViolation, match="leak"):
        q.dequeue()


def test_a_head_drop_fifo_pops_the_head_in_enqueue_and_drops_it(qbench):
    class HeadDrop(HeadFifo):
        id = "t_head_drop"

        def enqueue(self, skb, sch, to_free):
            if sch.qlen >= sch.limit:
                sch.drop(sch.dequeue_head(), to_free)
                sch.enqueue_tail(skb)
                return 1  # NET_XMIT_CN: queued, another dropped
            return sch.enqueue_tail(skb)

    q = qbench.graft(HeadDrop)
    q.ops.init(q.ctx, {})
    q.ctx.limit = 2
    skbs = [qbench.skb(length=100 + i) for i in range(3)]
    for skb in skbs:
        q.enqueue(skb)
    assert (q.qlen, q.backlog, q.drop_reasons) == (2, 101 + 102, {"qdisc": 1})
    out = _drain(q)
    assert out == skbs[1:]
    qbench.consume(*out)


def test_the_len_written_on_a_queued_skb_is_caught_at_the_generic_dequeue(qbench_contain):
    class Writer(HeadFifo):
        id = "t_head_lenw"

        def enqueue(self, skb, sch, to_free):
            if sch.qlen:
                sch.peek_head().len -= 100  # read-only, on an skb already queued
            return sch.enqueue_tail(skb)

    q = qbench_contain.graft(Writer)
    q.enqueue(qbench_contain.skb())
    q.enqueue(qbench_contain.skb())  # passes the check of its own skb: the head is caught leaving
    assert q.dequeue() is None
    assert "dequeue wrote skb.len (1000 -> 900)" in q.fault
    assert q.drop_reasons == {"fault": 2} and (q.qlen, q.backlog) == (0, 0)
    qbench_contain.world.check_conservation()


def test_a_contained_fault_frees_what_the_queue_held_as_fault_drops(qbench_contain):
    class Breaks(HeadFifo):
        id = "t_head_breaks"

        def enqueue(self, skb, sch, to_free):
            if sch.qlen == 2:
                raise RuntimeError("boom")
            return sch.enqueue_tail(skb)

    q = qbench_contain.graft(Breaks)
    for _ in range(3):
        q.enqueue(qbench_contain.skb())
    assert q.drop_reasons == {"fault": 3} and len(q.head) == 0 and q.qlen == 0
    qbench_contain.world.check_conservation()


@pytest.mark.no_conservation_check  # strict stops at the refusal, abandoning the packet
def test_reset_frees_the_queue_as_reset_drops_and_reset_queue_is_refused_in_enqueue(qbench):
    q = qbench.graft("pfifo limit 10")
    for _ in range(4):
        q.enqueue(qbench.skb())
    q.reset()
    assert (q.qlen, q.backlog, q.drop_reasons, len(q.head)) == (0, 0, {"qdisc_reset": 4}, 0)

    class ResetsInEnqueue(HeadFifo):
        id = "t_head_rst_enq"

        def enqueue(self, skb, sch, to_free):
            sch.reset_queue()
            return sch.enqueue_tail(skb)

    q2 = qbench.graft(ResetsInEnqueue)
    with pytest.raises(ExtensionFault, match=r"qdisc_reset_queue\) is allowed only in reset"):
        q2.enqueue(qbench.skb())


def test_under_policy_off_the_queue_runs_without_checks_and_counts_the_same():
    from qdisclab.net import World
    from qdisclab.sched import create_qdisc
    from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume

    world = World(seed=1, policy="off")
    a, b = world.add_host("A"), world.add_host("B")
    dev = world.connect(a, b, "1gbit", "1ms").a
    q = create_qdisc("pfifo limit 2", dev)
    assert type(q.head) is not QdiscSkbHead  # the unchecked twin
    books = world.flow_books("off")
    skbs = [SkBuff(1000, a.addr, b.addr, 1, 2, IPPROTO_UDP, 0, books) for _ in range(3)]
    for skb in skbs:
        books.book_sent(skb)
        q.enqueue(skb)
    out = _drain(q)
    assert (q.qlen, q.drops) == (0, 1) and out == skbs[:2]
    for skb in out:
        skb_consume(skb)


def test_every_helper_is_bound_on_sch_and_declared_once():
    assert set(HEAD_QUEUE_HELPERS) == {"enqueue_tail", "dequeue_head", "peek_head", "reset_queue"}
    assert issubclass(Pfifo, HeadQueueOps)
    assert Pfifo.dequeue is qdisc_dequeue_head and Pfifo.reset is qdisc_reset_queue
