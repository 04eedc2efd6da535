"""Fault containment: what happens when a qdisc policy breaks a rule or raises.

Under ``strict`` the fault propagates (the run stops with the diagnostic).
Under ``contain`` the faulty instance is detached: every skb it held (in its
collections, in the running callback, parked by peek, in its children) is
freed as a ``fault`` drop, packets it hid elsewhere are written off the tree's
counters, and its owner (the device, or the parent class) grafts a pfifo in
its place. The books balance either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from mypy_extensions import mypyc_attr

from qdisclab.errors import ExtensionFault
from qdisclab.ops import POLICY_CONTAIN, Frame
from qdisclab.sched.accounting import QdiscAccounting
from qdisclab.sched.constants import NET_XMIT_DROP
from qdisclab.skb import DROP_FAULT, FREED, SkBuff

if TYPE_CHECKING:
    from qdisclab.sched.qdisc import Qdisc


@mypyc_attr(allow_interpreted_subclasses=True)  # as Qdisc, built on it
class QdiscContainment(QdiscAccounting):
    """The fault-handling part of ``Qdisc`` (its fields are declared by ``QdiscState``)."""

    __slots__ = ()

    def _unpark(self) -> SkBuff | None:
        """Take back the skb a peek parked (None if none): the policy's dequeue serves again.

        Every path that lets go of the parked skb (a dequeue, reset, containment,
        a change's trim) goes through here, so ``dequeue`` never stays parked.
        """
        skb = self._gso_skb
        if skb is not None:
            self._gso_skb = None
            self.dequeue = self._policy_dequeue
        return skb

    def _fault_in(self, frame: Frame, exc: Exception, skb: SkBuff | None) -> int:
        if isinstance(exc, ExtensionFault):
            fault = exc
        else:
            packet = skb.describe() if skb is not None else ""
            fault = ExtensionFault(
                self.kind, frame.callback, f"raised {type(exc).__name__}: {exc}", packet
            )
            fault.__cause__ = exc
        if self.policy != POLICY_CONTAIN or self.on_fault is None:
            frame.acquired.clear()
            raise fault
        self.contain(fault, frame, skb)
        return NET_XMIT_DROP

    def contain(
        self, fault: ExtensionFault, frame: Frame | None = None, skb: SkBuff | None = None
    ) -> int:
        """Detach this faulty instance: free all it holds as fault drops, let the owner replace it."""
        self.fault = str(fault)
        held: list[SkBuff] = []
        if frame is not None:
            held.extend(s for s in frame.acquired if s.owner is frame)
            frame.acquired.clear()
        if skb is not None and skb.owner is not FREED and skb not in held:
            held.append(skb)
        held.extend(self.storage.release_all())
        held.extend(self.head.release_all())
        parked = self._unpark()
        if parked is not None:
            held.append(parked)
        self.watchdog.cancel()
        for child in list(self.children.values()):
            child.contain(fault)
        freed = 0
        for s in held:
            if s.owner is FREED:
                continue
            self._drop_owned(s, DROP_FAULT)
            freed += 1
        if self.qlen:
            # Packets the instance hid outside its collections: gone with it.
            self._reduce_tree(self.qlen, self.backlog)
        if self.on_fault is not None:
            self.on_fault(cast("Qdisc", self))  # every instance is a Qdisc
        return freed
