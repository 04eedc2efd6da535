"""The classful kfunc rules of the qdisc layer, exercised through small user qdiscs.

Written against the public interface only: ``create_child`` (init),
``find_class``, ``enqueue_child``, ``dequeue_child``, ``peek_child``,
``tc_classify`` and the filters of ``sch.filters``.
"""

from __future__ import annotations

import pytest
from qdisc_helpers import bare_world, booked

from qdisclab.errors import ExtensionFault
from qdisclab.ops import SkbList
from qdisclab.sched import (
    NET_XMIT_DROP,
    NET_XMIT_SUCCESS,
    TC_H_MAKE,
    QdiscOps,
    TcFilter,
    create_qdisc,
)
from qdisclab.skb import skb_consume

EVENTS: list[str] = []


class TwoBand(QdiscOps):
    """Two pfifo children; ``skb.mark`` picks the band; band 1 is served first."""

    id = "t_twoband"
    classful = True

    def init(self, sch, opt):
        sch.create_child(1, opt.get("child", "pfifo limit 3"))
        sch.create_child(2, opt.get("child", "pfifo limit 3"))

    def enqueue(self, skb, sch, to_free):
        child = sch.find_class(TC_H_MAKE(sch.handle, 1 + (skb.mark & 1)))
        return sch.enqueue_child(skb, child, to_free)

    def dequeue(self, sch):
        for minor in (1, 2):
            child = sch.find_class(TC_H_MAKE(sch.handle, minor))
            if sch.peek_child(child) is not None:
                return sch.dequeue_child(child)
        return None

    def reset(self, sch):
        EVENTS.append(f"reset {self.id}")

    def destroy(self, sch):
        EVENTS.append(f"destroy {self.id}")


class Recorder(QdiscOps):
    """A fifo that logs reset/destroy, to observe the order across a tree."""

    id = "t_recorder"

    def init(self, sch, opt):
        self.q = SkbList()

    def enqueue(self, skb, sch, to_free):
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.pop_front()

    def reset(self, sch):
        EVENTS.append(f"reset child {sch.parent & 0xFFFF}")
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        EVENTS.append(f"destroy child {sch.parent & 0xFFFF}")


class HeadDropFifo(QdiscOps):
    """Limit 2; when full, drop the oldest packet (a head drop) and queue the new one."""

    id = "t_headdrop"

    def init(self, sch, opt):
        self.q = SkbList()

    def enqueue(self, skb, sch, to_free):
        if len(self.q) >= 2:
            old = self.q.pop_front()
            sch.kfree_skb(old)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass


class ChildInEnqueue(TwoBand):
    """Breaks the rule: creates a child from enqueue."""

    id = "t_badcreate"

    def enqueue(self, skb, sch, to_free):
        sch.create_child(3, "pfifo")
        return sch.drop(skb, to_free)


class Kidnapper(TwoBand):
    """Breaks the rule: enqueues into a qdisc that is not its child."""

    id = "t_kidnap"
    victim = None

    def enqueue(self, skb, sch, to_free):
        return sch.enqueue_child(skb, Kidnapper.victim, to_free)


class Classifier(QdiscOps):
    """Records what ``tc_classify`` answers, then drops."""

    id = "t_classify"
    seen: list[int] = []

    def init(self, sch, opt):
        pass

    def enqueue(self, skb, sch, to_free):
        Classifier.seen.append(sch.tc_classify(skb))
        return sch.drop(skb, to_free)

    def dequeue(self, sch):
        return None

    def reset(self, sch):
        pass

    def destroy(self, sch):
        pass


@pytest.fixture
def world():
    return bare_world(seed=7)


def packet(world, length=100, mark=0, dport=9):
    return booked(world, length, dport, mark=mark)


def drain(q):
    n = 0
    while (skb := q.dequeue()) is not None:
        skb_consume(skb)
        n += 1
    return n


def conserve(world, q):
    led = world.ledger
    assert led.sent == led.delivered + led.dropped_total + q.qlen


@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
def test_create_child_only_from_init(world):
    q = create_qdisc(ChildInEnqueue, world.dev)
    with pytest.raises(ExtensionFault) as err:
        q.enqueue(packet(world))
    text = str(err.value)
    assert "bpf_qdisc_create_child" in text and "enqueue" in text and "t_badcreate" in text


@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
def test_enqueue_child_refuses_a_stranger(world):
    Kidnapper.victim = create_qdisc("pfifo", world.dev)
    q = create_qdisc(Kidnapper, world.dev)
    with pytest.raises(
        ExtensionFault, match=r"sch\.enqueue_child\(\) \(bpf_qdisc_enqueue\): not my child"
    ):
        q.enqueue(packet(world))
    assert Kidnapper.victim.qlen == 0


def test_tc_classify_runs_filters_by_prio_and_programs(world):
    q = create_qdisc(Classifier, world.dev)
    Classifier.seen = []
    # Inserted out of order: the prio 1 filter must win over the prio 5 one.
    q.filters.add(TcFilter(prio=5, classid=0x10005, match={"dport": 80}))
    q.filters.add(TcFilter(prio=1, classid=0x10001, match={"dport": 80, "mark": 1}))
    q.filters.add(TcFilter(prio=3, classid=0, program=lambda skb: 0x10003 if skb.len > 500 else 0))
    q.enqueue(packet(world, dport=80, mark=1))  # prio 1 matches
    q.enqueue(packet(world, dport=80, mark=0, length=600))  # prio 3 program matches first
    q.enqueue(packet(world, dport=80, mark=0))  # only prio 5
    q.enqueue(packet(world, dport=53))  # nothing
    assert Classifier.seen == [0x10001, 0x10003, 0x10005, 0]
    conserve(world, q)


def test_parent_counters_are_sums_of_children(world):
    q = create_qdisc(TwoBand, world.dev)
    for i in range(5):
        q.enqueue(packet(world, length=100 + i, mark=i))
    c1, c2 = q.children[1], q.children[2]
    assert (c1.qlen, c2.qlen) == (3, 2)
    assert q.qlen == c1.qlen + c2.qlen == 5
    assert q.backlog == c1.backlog + c2.backlog == sum(100 + i for i in range(5))
    # limit 3 on band 1: the next even-mark packet is dropped by the child, counted up the tree
    assert q.enqueue(packet(world, mark=2)) & 0x0F == NET_XMIT_DROP
    assert (q.qlen, c1.drops, q.drops) == (5, 1, 1)
    # peek_child + dequeue_child: band 1 (marks 0, 2, 4) strictly first
    out = []
    while (skb := q.dequeue()) is not None:
        out.append(skb.len)
        skb_consume(skb)
        assert q.qlen == c1.qlen + c2.qlen
    assert out == [100, 102, 104, 101, 103]
    assert (q.qlen, q.backlog, q.packets, c1.packets + c2.packets) == (0, 0, 5, 5)
    conserve(world, q)


def test_child_head_drop_reduces_parent_qlen(world):
    q = create_qdisc(TwoBand, world.dev, opt={"child": "t_headdrop"})
    for _ in range(3):
        assert q.enqueue(packet(world)) == NET_XMIT_SUCCESS
    child = q.children[1]
    assert (child.qlen, child.drops) == (2, 1)
    assert (q.qlen, q.backlog) == (2, 200)
    assert drain(q) == 2 and q.qlen == 0
    conserve(world, q)


def test_reset_and_destroy_go_parent_then_children(world):
    q = create_qdisc(TwoBand, world.dev, opt={"child": "t_recorder"})
    for i in range(4):
        q.enqueue(packet(world, mark=i))
    EVENTS.clear()
    q.reset()
    assert EVENTS == ["reset t_twoband", "reset child 1", "reset child 2"]
    assert q.qlen == q.backlog == 0 and q.drop_reasons == {}
    assert world.ledger.dropped == {"qdisc_reset": 4}
    EVENTS.clear()
    q.destroy()
    assert EVENTS.index("destroy t_twoband") < EVENTS.index("destroy child 1")
    assert EVENTS[0] == "reset t_twoband"
    conserve(world, q)


def test_tc_s_text_shows_the_tree(world):
    from qdisclab.sched.report import qdisc_block, visible

    q = create_qdisc(TwoBand, world.dev)
    q.enqueue(packet(world, length=300, mark=1))
    text = q.stats_text()
    lines = text.splitlines()
    assert lines[0].startswith("qdisc t_twoband 8001: dev eth0 root")
    # Children a qdisc creates for itself have handle 0 and are hidden, as the kernel's are.
    assert "parent 8001:" not in text
    shown = "\n".join(qdisc_block(c, stats=True) for c in visible(q, invisible=True))
    assert "qdisc pfifo 0: dev eth0 parent 8001:1" in shown
    assert "qdisc pfifo 0: dev eth0 parent 8001:2" in shown
    assert " backlog 300b 1p" in lines[2]  # the parent's own line
    assert shown.count("backlog 300b 1p") == 2  # the parent and band 2
    drain(q)
    conserve(world, q)


for _cls in (TwoBand, Recorder, HeadDropFifo, ChildInEnqueue, Kidnapper, Classifier):
    from qdisclab.sched import register_qdisc

    register_qdisc(_cls)
