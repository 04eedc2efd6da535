"""Qdisc accounting: qlen, backlog, drops by reason, bytes/packets, kept up the tree.

``qlen`` and ``backlog`` are plain slots of the mechanism (``q.qlen``,
``q.backlog``), written here and by the trampolines; the policy's ``sch``
reads them through read-only properties, so a policy's write is refused.

The counters are derived from ownership transitions (an skb is counted when
the policy's enqueue returns with it queued, uncounted when it leaves by
dequeue or a drop), so a policy cannot get them wrong. Every drop, for every
reason (a policy's drop, a reset, a contained fault), goes through
``_account_drop``: the one place drops are counted and traced.

``SojournLog`` is the time side of the same bookkeeping: while a tool asks for
it (``measure.sojourn``), a qdisc notes when each packet entered it and, at
its dequeue, how long it stayed: the trampolines do it inline, with no call.
"""

from __future__ import annotations

from array import array

from mypy_extensions import mypyc_attr

from qdisclab.sched.state import QdiscState
from qdisclab.skb import SkBuff, skb_drop


class SojournLog:
    """One qdisc's per-packet sojourn: enqueue time of each packet inside, and every dequeue.

    ``times[i]`` is the time (ns) of a dequeue and ``sojourn[i]`` how long (ns)
    that packet had been inside the qdisc; ``times`` never decreases. Packets
    that enter by enqueue are timed (a packet dropped on the way in is not);
    a packet let past an empty qdisc (bypass) counts with a sojourn of 0;
    one that entered before logging began, or by other means (a clone), is
    not counted.
    """

    __slots__ = ("pending", "sojourn", "times")

    def __init__(self) -> None:
        self.pending: dict[SkBuff, int] = {}  # packet inside -> when it entered
        self.times = array("q")
        self.sojourn = array("q")

    def bypassed(self, now: int) -> None:
        """A packet let past the empty qdisc at ``now``: it left as it entered (sojourn 0)."""
        self.times.append(now)
        self.sojourn.append(0)


@mypyc_attr(allow_interpreted_subclasses=True)  # as Qdisc, built on it
class QdiscAccounting(QdiscState):
    """The counting part of ``Qdisc`` (its fields are declared by ``QdiscState``)."""

    __slots__ = ()

    def _account_drop(self, skb: SkBuff, reason: str) -> None:
        self.drops += 1
        reasons = self.drop_reasons
        reasons[reason] = reasons.get(reason, 0) + 1
        if skb is not self._entering:  # the entering skb was never counted anywhere up the tree
            length = skb.len
            q: QdiscAccounting | None = self
            while q is not None:
                q.qlen -= 1
                q.backlog -= length
                q = q.parent_q
        now = self.sched.now
        log = self.sojourn
        if log is not None:
            log.pending.pop(skb, None)
        tp = self.tp_drop
        if tp.listeners:
            tp.emit(now, self, skb, reason)
        skb_drop(skb, reason, now)

    def _drop_owned(self, skb: SkBuff, reason: str) -> None:
        """Infrastructure drop of an skb this qdisc holds (no ownership check)."""
        skb.owner = None
        self._account_drop(skb, reason)

    def _grow_tree(self, packets: int, nbytes: int) -> None:
        """Packets entered this qdisc by other means than enqueue (a clone)."""
        q: QdiscAccounting | None = self
        while q is not None:
            q.qlen += packets
            q.backlog += nbytes
            q = q.parent_q

    def _reduce_tree(self, packets: int, nbytes: int) -> None:
        """``qdisc_tree_reduce_backlog``: packets left a child by other means than dequeue."""
        self._grow_tree(-packets, -nbytes)

    def held_packets(self) -> int:
        """Packets inside this qdisc tree, from the accounting (for conservation checks)."""
        return self.qlen
