"""A policy that names where its program returned (``ops.returned_at``) has its leaks so reported."""

from __future__ import annotations

import pytest

from qdisclab.ops.ownership import OwnershipViolation
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps


class Leaky(QdiscOps):
    """Keeps each skb for itself: the trampoline finds the leak (or the stray return)."""

    id = "t_ret_at"

    def __init__(self) -> None:
        self.returned_at = {
            "enqueue": "prog_enq: returned at x.c:3",
            "dequeue": "prog_deq: at x.c:9",
        }
        self.kept = None

    def init(self, sch, opt):
        pass

    def enqueue(self, skb, sch, to_free):
        self.kept = skb
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.kept

    def reset(self, sch):
        pass

    def destroy(self, sch):
        pass


@pytest.mark.no_conservation_check  # strict stops at the fault, abandoning the packet
def test_a_leak_is_reported_from_where_the_program_returned(qbench):
    q = qbench.graft(Leaky)
    with pytest.raises(OwnershipViolation) as caught:
        q.enqueue(qbench.skb())
    assert "prog_enq: returned at x.c:3: enqueue returned while still owning its skb" in str(
        caught.value
    )


@pytest.mark.no_conservation_check
def test_a_stray_return_is_reported_from_where_the_program_returned(qbench):
    class Stray(Leaky):
        id = "t_ret_stray"

        def dequeue(self, sch):
            return self.stray

    q = qbench.graft(Stray)
    q.ops.stray = qbench.skb()  # owned by nobody here: forged
    with pytest.raises(OwnershipViolation) as caught:
        q.dequeue()
    assert "prog_deq: at x.c:9: dequeue returned an skb it does not own" in str(caught.value)


@pytest.mark.no_conservation_check
def test_without_returned_at_the_report_is_the_trampolines_own(qbench):
    class Plain(Leaky):
        id = "t_ret_plain"

        def __init__(self) -> None:
            self.kept = None

    q = qbench.graft(Plain)
    with pytest.raises(OwnershipViolation, match=r"^[^:]*enqueue: enqueue returned while"):
        q.enqueue(qbench.skb())
