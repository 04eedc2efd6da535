"""``Qdisc``: one qdisc instance, the mundane part around a ``QdiscOps`` policy.

The device drives it with ``enqueue``, ``dequeue`` and ``peek``. Each call runs
the policy's callback inside a trampoline that

* accounts (qlen, backlog, bytes/packets sent, drops by reason) from the
  ownership transitions: an skb enters with ``enqueue`` and leaves with
  ``dequeue`` or a drop, so a policy cannot get the counters wrong;
* checks ownership (unless the policy is ``off``): the skb handed to
  ``enqueue`` must end queued or dropped, ``dequeue`` may return only an skb
  the callback owns, nothing may leak;
* handles a misbehaving policy: ``strict`` stops with a diagnostic naming the
  kind, the callback and the packet; ``contain`` detaches the instance, frees
  what it held as ``fault`` drops and lets its owner graft a pfifo in its place.

The methods documented as kfuncs are what a policy may call on ``sch``; each
checks that the running callback is allowed to call it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from qdisclab.errors import ExtensionFault, KernelError, UserError
from qdisclab.ops import KFUNCS, POLICY_CONTAIN, POLICY_OFF, POLICY_STRICT, RUNNING, Frame
from qdisclab.ops.ownership import check_exit, require_kfunc, take, violation
from qdisclab.sched import report
from qdisclab.sched.constants import NET_XMIT_DROP, TC_H_MAJ, TC_H_MAKE, TC_H_ROOT
from qdisclab.sched.filters import FilterChain
from qdisclab.sched.handle import format_handle
from qdisclab.sched.ops import IFACE, QdiscOps
from qdisclab.sched.tracepoints import QDISC_DEQUEUE, QDISC_DROP, QDISC_ENQUEUE, QDISC_REQUEUE
from qdisclab.sched.watchdog import QdiscWatchdog
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.skb import (
    DROP_FAULT,
    DROP_QDISC,
    DROP_RESET,
    FREED,
    INET_ECN_CE,
    INET_ECN_NOT_ECT,
    SkBuff,
    skb_drop,
)

_CALLBACKS = ("enqueue", "dequeue", "init", "reset", "destroy")


class _ToFree:
    """The ``to_free`` argument of enqueue: a token only ``sch.drop`` accepts."""

    __slots__ = ()


class Qdisc:
    """A qdisc instance. ``sch.q.qlen`` and ``sch.qstats.*`` read as in the kernel."""

    __slots__ = (
        "_checked",
        "_deq",
        "_deq_frame",
        "_enq",
        "_enq_frame",
        "_entering",
        "_frames",
        "_gso_skb",
        "_to_free",
        "backlog",
        "bytes",
        "can_bypass",
        "children",
        "dev",
        "drop_reasons",
        "drops",
        "fault",
        "filters",
        "handle",
        "hash_seed",
        "kind",
        "limit",
        "on_fault",
        "ops",
        "opt",
        "overlimits",
        "packets",
        "parent",
        "parent_q",
        "policy",
        "qlen",
        "requeues",
        "sched",
        "spec",
        "storage",
        "tp_dequeue",
        "tp_drop",
        "tp_enqueue",
        "tp_requeue",
        "watchdog",
    )

    def __init__(
        self,
        ops_cls: type[QdiscOps],
        dev: Any,
        handle: int,
        parent: int = TC_H_ROOT,
        parent_q: Qdisc | None = None,
        policy: str | None = None,
    ) -> None:
        self.ops = ops_cls()
        self.kind = ops_cls.id
        self.dev = dev
        self.sched = dev.sched
        self.tp_enqueue = tracepoint(self.sched, QDISC_ENQUEUE)
        self.tp_dequeue = tracepoint(self.sched, QDISC_DEQUEUE)
        self.tp_drop = tracepoint(self.sched, QDISC_DROP)
        self.tp_requeue = tracepoint(self.sched, QDISC_REQUEUE)
        self.handle = handle
        self.parent = parent
        self.parent_q = parent_q
        self.policy = policy or getattr(dev, "ownership_policy", POLICY_STRICT)
        self._checked = self.policy != POLICY_OFF
        self.hash_seed = getattr(dev, "hash_seed", 0)
        self.limit = 0
        self.qlen = 0
        self.backlog = 0
        self.drops = 0
        self.overlimits = 0
        self.requeues = 0
        self.bytes = 0
        self.packets = 0
        self.drop_reasons: dict[str, int] = {}
        self.storage: list[Any] = []  # collections created by this instance
        self.children: dict[int, Qdisc] = {}  # class minor -> child qdisc
        self.filters = FilterChain()
        self.watchdog = QdiscWatchdog(self.sched, dev)
        self.fault: str | None = None
        self.on_fault: Callable[[Qdisc], None] | None = None
        self.opt: dict[str, Any] = {}
        self.spec = ops_cls.id
        self._gso_skb: SkBuff | None = None
        self._entering: SkBuff | None = None  # the skb inside enqueue, not yet counted
        self._to_free = _ToFree()
        self._frames = {
            name: Frame(self.kind, name, self, KFUNCS.allowed_for(IFACE, name))
            for name in _CALLBACKS
        }
        self._enq_frame = self._frames["enqueue"]
        self._deq_frame = self._frames["dequeue"]
        self._enq = self.ops.enqueue
        self._deq = self.ops.dequeue
        # TCQ_F_CAN_BYPASS: an empty work-conserving fifo on an idle device may be skipped.
        self.can_bypass = bool(getattr(ops_cls, "can_bypass", False))

    # -- kernel-style views --------------------------------------------------
    @property
    def q(self) -> Qdisc:
        """``sch.q.qlen`` as in the kernel."""
        return self

    @property
    def qstats(self) -> Qdisc:
        """``sch.qstats.backlog/drops/overlimits/requeues``."""
        return self

    @property
    def bstats(self) -> Qdisc:
        """``sch.bstats.bytes/packets``."""
        return self

    @property
    def now(self) -> int:
        """Current time in ns (``bpf_ktime_get_ns``)."""
        return self.sched.now

    @property
    def mtu(self) -> int:
        """``psched_mtu(dev)``: the device MTU (qdisclab lengths include no L2 header)."""
        return self.dev.mtu

    # -- lifecycle -------------------------------------------------------------
    def init(self, opt: dict[str, Any]) -> None:
        """Run the policy's init (the watchdog already exists, as the prologue guarantees)."""
        self.opt = opt
        try:
            ret = self._call("init", self.ops.init, self, opt)
        except (UserError, KernelError):
            self._call_quietly("destroy")
            raise
        except ExtensionFault:
            self._call_quietly("destroy")
            raise
        if isinstance(ret, int) and ret < 0:
            self._call_quietly("destroy")
            raise KernelError(-ret, f"qdisc {self.kind}: init failed")

    def reset(self) -> None:
        """``qdisc_reset``: policy reset, cancel the watchdog, purge the peeked skb, reset children."""
        if self.fault is None:
            self._call("reset", self.ops.reset, self)
        self.watchdog.cancel()
        skb = self._gso_skb
        if skb is not None:
            self._gso_skb = None
            self._drop_owned(skb, DROP_RESET)
        for child in self.children.values():
            child.reset()

    def destroy(self) -> None:
        """``__qdisc_destroy``: reset first, then the policy's destroy, then free leftovers."""
        self.reset()
        if self.fault is None:
            self._call("destroy", self.ops.destroy, self)
        self.watchdog.cancel()
        for child in self.children.values():
            child.destroy()
        for collection in self.storage:
            for skb in collection.release_all():
                self._drop_owned(skb, DROP_RESET)

    def _call(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        frame = self._frames[name]
        running = RUNNING
        outer = running.frame
        running.frame = frame
        try:
            result = fn(*args)
            if self._checked and frame.acquired:
                check_exit(frame)
        except ExtensionFault:
            raise
        except (UserError, KernelError):
            raise
        except Exception as exc:
            raise ExtensionFault(self.kind, name, f"raised {type(exc).__name__}: {exc}") from exc
        finally:
            running.frame = outer
        return result

    def _call_quietly(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self._call(name, getattr(self.ops, name), self)

    # -- the datapath trampolines -----------------------------------------------
    def enqueue(self, skb: SkBuff) -> int:
        """Hand ``skb`` to the policy; returns NET_XMIT_*.

        As in the kernel, ``sch.q.qlen`` does not yet count the skb while the
        policy decides; it is counted once the policy returns with it queued.
        """
        self._entering = skb
        if not self._checked:
            # No ownership checks, but the running frame still names the instance
            # (collections created inside the callback register with it).
            running = RUNNING
            outer = running.frame
            running.frame = self._enq_frame
            try:
                ret = self._enq(skb, self, self._to_free)
            finally:
                running.frame = outer
        else:
            frame = self._enq_frame
            running = RUNNING
            outer = running.frame
            if outer is not None:  # a parent's callback hands it over (bpf_qdisc_enqueue)
                take(skb, frame, "enqueue to child")
            else:
                skb.owner = frame
            running.frame = frame
            try:
                ret = self._enq(skb, self, self._to_free)
                if skb.owner is frame:
                    raise violation(
                        frame, skb, "enqueue returned while still owning its skb (leak: neither "
                        "queued nor dropped)"
                    )  # fmt: skip
                if frame.acquired:
                    check_exit(frame)
            except Exception as exc:
                running.frame = outer
                try:
                    return self._fault_in(frame, exc, skb)
                finally:
                    self._entering = None
            running.frame = outer
        self._entering = None
        if skb.owner is not FREED:
            self.qlen += 1
            self.backlog += skb.len
        tp = self.tp_enqueue
        if tp.listeners:
            tp.emit(self.sched.now, self, skb, ret)
        return ret

    def dequeue(self) -> SkBuff | None:
        """Ask the policy for the next skb (the peeked one first, as the kernel's gso_skb)."""
        skb = self._gso_skb
        if skb is not None:
            self._gso_skb = None
            if self._checked:
                # The peeked skb was parked with the qdisc; hand it to whoever dequeues
                # (a parent's callback via bpf_qdisc_dequeue, or the device).
                outer = RUNNING.frame
                skb.owner = outer
                if outer is not None:
                    outer.acquired.append(skb)
        elif not self._checked:
            running = RUNNING
            outer = running.frame
            running.frame = self._deq_frame
            try:
                skb = self._deq(self)
            finally:
                running.frame = outer
            if skb is None:
                return None
        else:
            frame = self._deq_frame
            running = RUNNING
            outer = running.frame
            running.frame = frame
            try:
                skb = self._deq(self)
                if skb is not None and (skb.__class__ is not SkBuff or skb.owner is not frame):
                    raise violation(frame, skb, _bad_return(skb))
                acquired = frame.acquired
                if acquired:
                    if len(acquired) == 1 and acquired[0] is skb:
                        acquired.clear()  # the common case: popped one, returned it
                    else:
                        check_exit(frame, keep=skb)
            except Exception as exc:
                running.frame = outer
                self._fault_in(frame, exc, None)
                return None
            running.frame = outer
            if skb is None:
                return None
            if outer is not None:  # a parent's callback now owns it (bpf_qdisc_dequeue)
                skb.owner = outer
                outer.acquired.append(skb)
            else:
                skb.owner = None
        length = skb.len
        self.qlen -= 1
        self.backlog -= length
        self.packets += 1
        self.bytes += length
        tp = self.tp_dequeue
        if tp.listeners:
            tp.emit(self.sched.now, self, skb)
        return skb

    def peek(self) -> SkBuff | None:
        """Generic ``qdisc_peek_dequeued``: dequeue once and park the skb until the next dequeue."""
        skb = self._gso_skb
        if skb is None:
            running = RUNNING
            outer = running.frame
            running.frame = None  # the infrastructure, not the caller, holds a peeked skb
            try:
                skb = self.dequeue()
            finally:
                running.frame = outer
            if skb is None:
                return None
            # Undo dequeue's accounting: the skb is still inside this qdisc.
            self.qlen += 1
            self.backlog += skb.len
            self.packets -= 1
            self.bytes -= skb.len
            skb.owner = self
            self._gso_skb = skb
            tp = self.tp_requeue
            if tp.listeners:
                tp.emit(self.sched.now, self, skb)
        return skb

    # -- kfuncs -------------------------------------------------------------------
    def drop(self, skb: SkBuff, to_free: Any, reason: str = DROP_QDISC) -> int:
        """kfunc ``bpf_qdisc_skb_drop`` (enqueue only): drop an owned skb; returns NET_XMIT_DROP."""
        if self._checked:
            frame = RUNNING.frame
            if frame is None or "bpf_qdisc_skb_drop" not in frame.allowed:
                require_kfunc("bpf_qdisc_skb_drop")  # raises the diagnostic
            if to_free is not self._to_free:
                raise ExtensionFault(
                    self.kind, "enqueue", "bpf_qdisc_skb_drop: to_free is not this call's list"
                )
            if skb.owner is not frame:
                take(skb, FREED, "bpf_qdisc_skb_drop")  # raises the diagnostic
        self._account_drop(skb, reason)  # marks it FREED
        return NET_XMIT_DROP

    def kfree_skb(self, skb: SkBuff, reason: str | None = None) -> None:
        """kfunc ``bpf_kfree_skb`` (any callback): free an owned skb now; counted as a drop."""
        if self._checked:
            frame = require_kfunc("bpf_kfree_skb")
            take(skb, FREED, "bpf_kfree_skb")
            if reason is None:
                reason = DROP_RESET if frame.callback in ("reset", "destroy") else DROP_QDISC
        self._account_drop(skb, reason or DROP_QDISC)

    def skb_clone(self, skb: SkBuff) -> SkBuff:
        """qdisclab kfunc ``bpf_qdisc_skb_clone`` (enqueue): a new packet copied from ``skb``.

        For netem's duplicate (the kernel's ``skb_clone``). The copy is booked as
        sent, owned by the running callback, and already counted in this qdisc
        tree's qlen/backlog: queue it like any skb, or drop it with ``sch.drop``.
        """
        frame = require_kfunc("bpf_qdisc_skb_clone") if self._checked else None
        clone = skb.clone(self.sched.now)
        skb.flow.book_sent(clone)
        clone.owner = frame
        if frame is not None:
            frame.acquired.append(clone)
        length = clone.len
        q: Qdisc | None = self
        while q is not None:
            q.qlen += 1
            q.backlog += length
            q = q.parent_q
        return clone

    def watchdog_schedule(self, expire: int, delta_ns: int = 0) -> None:
        """kfunc ``bpf_qdisc_watchdog_schedule`` (enqueue, dequeue): wake me at ``expire`` ns."""
        if self._checked:
            require_kfunc("bpf_qdisc_watchdog_schedule")
        self.watchdog.schedule(expire, delta_ns)

    def skb_get_hash(self, skb: SkBuff) -> int:
        """kfunc ``bpf_skb_get_hash``: the skb's flow hash."""
        return skb.get_hash(self.hash_seed)

    def skb_data(self, skb: SkBuff) -> memoryview:
        """kfunc ``bpf_dynptr_from_skb`` (read-only): the payload bytes."""
        if self._checked:
            require_kfunc("bpf_dynptr_from_skb")
            if skb.owner is FREED:
                raise violation(RUNNING.frame, skb, "bpf_dynptr_from_skb: skb already released")
        return memoryview(skb.payload or b"").toreadonly()

    def set_ce(self, skb: SkBuff) -> bool:
        """kfunc ``bpf_skb_ecn_set_ce``: mark Congestion Experienced if ECN-capable."""
        if self._checked:
            require_kfunc("bpf_skb_ecn_set_ce")
        if skb.ecn == INET_ECN_NOT_ECT:
            return False
        skb.ecn = INET_ECN_CE
        return True

    def create_child(self, minor: int, spec: str) -> Qdisc:
        """kfunc ``bpf_qdisc_create_child`` (init): a child qdisc at class ``major:minor``."""
        if self._checked:
            require_kfunc("bpf_qdisc_create_child")
        from qdisclab.sched.registry import create_qdisc

        old = self.children.get(minor)
        child = create_qdisc(spec, self.dev, parent=TC_H_MAKE(self.handle, minor), parent_q=self)
        self._install_child(minor, child)
        if old is not None:
            old.destroy()
        return child

    def graft(self, minor: int, spec: str) -> Qdisc:
        """Replace the child at ``minor`` (``tc qdisc add ... parent X:minor``); not a kfunc."""
        running = RUNNING
        outer = running.frame
        running.frame = None
        try:
            from qdisclab.sched.registry import create_qdisc

            child = create_qdisc(
                spec, self.dev, parent=TC_H_MAKE(self.handle, minor), parent_q=self
            )
        finally:
            running.frame = outer
        old = self.children.get(minor)
        self._install_child(minor, child)
        if old is not None:
            # Its reset drops leave every ancestor's counters as they happen (they walk
            # up the tree); reducing by its qlen first as well counted them twice.
            old.destroy()
            if old.qlen:  # whatever its policy did not free is gone with it
                self._reduce_tree(old.qlen, old.backlog)
        return child

    def _install_child(self, minor: int, child: Qdisc) -> None:
        self.children[minor] = child

        def replace(faulty: Qdisc, minor: int = minor) -> None:
            self.graft(minor, "pfifo")

        child.on_fault = replace

    def find_class(self, classid: int) -> Qdisc | None:
        """kfunc ``bpf_qdisc_find_class``: the child qdisc at ``classid`` (major must match)."""
        if TC_H_MAJ(classid) != TC_H_MAJ(self.handle):
            return None
        return self.children.get(classid & 0xFFFF)

    def enqueue_child(self, skb: SkBuff, child: Qdisc, to_free: Any) -> int:
        """kfunc ``bpf_qdisc_enqueue`` (enqueue): hand an owned skb to ``child``."""
        if self._checked:
            require_kfunc("bpf_qdisc_enqueue")
            if child.parent_q is not self:
                raise ExtensionFault(self.kind, "enqueue", "bpf_qdisc_enqueue: not my child")
        ret = child.enqueue(skb)
        if ret & 0x0F == NET_XMIT_DROP:
            # The child's drop already left every ancestor's qlen; count it here too,
            # as the kernel's classful parents do (qdisc_qstats_drop on a child's drop).
            self.drops += 1
        return ret

    def dequeue_child(self, child: Qdisc) -> SkBuff | None:
        """kfunc ``bpf_qdisc_dequeue`` (dequeue): take the next skb from ``child``."""
        if self._checked:
            require_kfunc("bpf_qdisc_dequeue")
        return child.dequeue()

    def peek_child(self, child: Qdisc) -> SkBuff | None:
        """kfunc ``bpf_qdisc_peek``: the child's next skb without taking it."""
        if self._checked:
            require_kfunc("bpf_qdisc_peek")
        return child.peek()

    def tc_classify(self, skb: SkBuff, qdisc: Qdisc | None = None) -> int:
        """kfunc ``bpf_skb_tc_classify``: run the filters of ``qdisc`` (default: mine)."""
        if self._checked:
            require_kfunc("bpf_skb_tc_classify")
        return (qdisc or self).filters.classify(skb)

    # -- accounting -------------------------------------------------------------
    def _account_drop(self, skb: SkBuff, reason: str) -> None:
        self.drops += 1
        reasons = self.drop_reasons
        reasons[reason] = reasons.get(reason, 0) + 1
        if skb is not self._entering:  # the entering skb was never counted anywhere up the tree
            length = skb.len
            q: Qdisc | None = self
            while q is not None:
                q.qlen -= 1
                q.backlog -= length
                q = q.parent_q
        tp = self.tp_drop
        if tp.listeners:
            tp.emit(self.sched.now, self, skb, reason)
        skb_drop(skb, reason, self.sched.now)

    def _drop_owned(self, skb: SkBuff, reason: str) -> None:
        """Infrastructure drop of an skb this qdisc holds (no ownership check)."""
        skb.owner = None
        self._account_drop(skb, reason)

    def _reduce_tree(self, packets: int, nbytes: int) -> None:
        """``qdisc_tree_reduce_backlog``: packets left a child by other means than dequeue."""
        q: Qdisc | None = self
        while q is not None:
            q.qlen -= packets
            q.backlog -= nbytes
            q = q.parent_q

    # -- faults -------------------------------------------------------------------
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
        for collection in self.storage:
            held.extend(collection.release_all())
        if self._gso_skb is not None:
            held.append(self._gso_skb)
            self._gso_skb = None
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
            self.on_fault(self)
        return freed

    # -- reporting (the text and rows live in qdisclab.sched.report) ------------------
    def describe(self) -> str:
        """The ``tc qdisc show`` header line for this qdisc."""
        return report.describe(self)

    def stats_text(self) -> str:
        """``tc -s qdisc show`` for this qdisc and its children."""
        return report.stats_text(self)

    def walk(self):
        """This qdisc and every descendant, parents first."""
        yield self
        for minor in sorted(self.children):
            yield from self.children[minor].walk()

    def held_packets(self) -> int:
        """Packets inside this qdisc tree, from the accounting (for conservation checks)."""
        return self.qlen

    def stats(self) -> dict[str, Any]:
        """The qdisc's counters as a results row."""
        return report.stats_row(self)

    def __repr__(self) -> str:
        return f"<Qdisc {self.kind} {format_handle(self.handle)} qlen={self.qlen}>"


def _bad_return(obj: Any) -> str:
    if not isinstance(obj, SkBuff):
        return f"dequeue returned a {type(obj).__name__}, not an owned skb"
    if obj.owner is FREED:
        return "dequeue returned an skb that was already freed (dangling)"
    return "dequeue returned an skb it does not own (still queued or forged)"
