"""The datapath trampolines: ``enqueue``, ``dequeue``, ``bypass`` and the generic ``peek``.

Each runs the policy's callback with the narrow ``sch`` and

* checks ownership (unless the policy is ``off``): the skb handed to
  ``enqueue`` must end queued or dropped, ``dequeue`` may return only an skb
  the callback owns, nothing may leak;
* validates the return value (``enqueue``: a NET_XMIT_* code consistent with
  what happened to the skb; ``dequeue``: an owned skb or None) and that the
  policy left the skb fields the kernel's BPF qdisc may not write alone;
* accounts (see ``accounting``), fires the qdisc tracepoints and notes
  sojourn times (``SojournLog``) when asked to.

The unchecked copies (policy ``off``) run the same callback with no checks:
the benchmark baseline. All are closures built per instance
(``bind_trampolines``) and installed as ``q.enqueue`` / ``q.dequeue`` /
``q.bypass``. They are built again whenever a listener attaches to or leaves
the qdisc's enqueue or dequeue tracepoint, or sojourn logging starts or
stops (``Qdisc.rebind_probes``), and close over what was true then: a probe
that nothing uses costs one test of a closed-over None, not an attribute
lookup chain. While a peek has parked an skb, ``q.dequeue`` is
``_dequeue_parked``, which serves that skb first and puts the policy's
dequeue back, so the policy's dequeue never tests for a parked skb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mypy_extensions import mypyc_attr

from qdisclab.ops import RUNNING
from qdisclab.ops.ownership import check_exit, take, violation
from qdisclab.sched.constants import (
    __NET_XMIT_BYPASS,
    __NET_XMIT_STOLEN,
    NET_XMIT_DROP,
    NET_XMIT_MASK,
    NET_XMIT_NAMES,
    NET_XMIT_SUCCESS,
)
from qdisclab.sched.containment import QdiscContainment
from qdisclab.sched.context import undo_len_write
from qdisclab.sched.ops import qdisc_dequeue_head
from qdisclab.skb import FREED, SkBuff

if TYPE_CHECKING:
    from qdisclab.ops import Frame
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.sched.qdisc import Qdisc

#: The policy's callbacks as the trampolines call them (``QdiscOps.enqueue`` / ``dequeue``).
EnqueueCallback = Callable[[SkBuff, "QdiscContext", "ToFree"], int]
DequeueCallback = Callable[["QdiscContext"], "SkBuff | None"]
#: The same as the checked trampolines see them: whatever the policy returned, to be
#: checked (a compiled trampoline would otherwise refuse a wrong type before the check
#: that names the callback and the value).
UnverifiedEnqueue = Callable[[SkBuff, "QdiscContext", "ToFree"], object]
UnverifiedDequeue = Callable[["QdiscContext"], object]

# Every value enqueue may return (a code, optionally with the stolen/bypass flags), each
# mapped to itself: the verdict as an int, whatever equal value the policy returned.
_VALID_RETURNS: dict[object, int] = {
    code | flags: code | flags
    for code in NET_XMIT_NAMES
    for flags in (0, __NET_XMIT_STOLEN, __NET_XMIT_BYPASS, __NET_XMIT_STOLEN | __NET_XMIT_BYPASS)
}


def bind_trampolines(q: Qdisc) -> None:
    """Give ``q`` its ``enqueue``, ``dequeue`` and ``bypass``: checked, or not under policy ``off``.

    Each is built once per instance (and again when its probes change) and
    closes over what it needs (the policy's bound callback, ``sch``, the frame,
    the tracepoints, the sojourn log), so a packet costs no attribute lookups
    on the mechanism beyond its counters.
    """
    probes = _Probes(q)
    if q._checked:
        q.enqueue = _checked_enqueue(q, probes)
        q._policy_dequeue = _checked_dequeue(q, probes)
    else:
        q.enqueue = _unchecked_enqueue(q, probes)
        q._policy_dequeue = _unchecked_dequeue(q, probes)
    if getattr(type(q.ops), "dequeue", None) is qdisc_dequeue_head:
        q._policy_dequeue = _head_dequeue(q, probes)
    q.dequeue = q._policy_dequeue if q._gso_skb is None else q._dequeue_parked
    q.bypass = _bypass(q, probes)
    # With nothing to trace, a bypass is two counters and a note in the sojourn log (if
    # one is kept): past a plain wire the device does them itself (a call less per
    # packet past an idle device) and calls ``bypass`` otherwise.
    q.bypass_unwatched = not probes.tracing_bypass()
    tell_device_bypass_changed(q)


def tell_device_bypass_changed(q: Qdisc) -> None:
    """``can_bypass`` or ``bypass_unwatched`` changed: a device keeps them folded into its
    transmit path's flags (net's ``NetDevice.refresh_tx_path``), so it recomputes them."""
    refresh = getattr(q.dev, "refresh_tx_path", None)
    if refresh is not None:
        refresh()


class _Probes:
    """What the trampolines of one qdisc report to, as it stands when they are built."""

    __slots__ = (
        "enqueued",
        "log_sojourn",
        "log_time",
        "sched",
        "tp_dequeue",
        "tp_enqueue",
        "traced_dequeue",
        "traced_enqueue",
    )

    # enqueued[skb] = when it entered; a departure appends its time and sojourn. The
    # log_* appenders are called only while enqueued is not None (a log is kept).
    enqueued: dict[SkBuff, int] | None
    log_time: Callable[[int], None]
    log_sojourn: Callable[[int], None]

    def __init__(self, q: Qdisc) -> None:
        self.sched = q.sched
        self.tp_enqueue, self.tp_dequeue = q.tp_enqueue, q.tp_dequeue
        self.traced_enqueue = bool(q.tp_enqueue.listeners)
        self.traced_dequeue = bool(q.tp_dequeue.listeners)
        log = q.sojourn
        if log is None:
            self.enqueued = None
            self.log_time = self.log_sojourn = _not_logging
        else:
            self.enqueued = log.pending
            self.log_time = log.times.append
            self.log_sojourn = log.sojourn.append

    def entered(self, q: Qdisc, skb: SkBuff, ret: int) -> None:
        """After an enqueue: note when ``skb`` entered (if it was queued) and trace it."""
        now = self.sched.now
        enqueued = self.enqueued
        if enqueued is not None and skb.owner is not FREED and ret & NET_XMIT_MASK != NET_XMIT_DROP:
            enqueued[skb] = now
        if self.traced_enqueue:
            self.tp_enqueue.emit(now, q, skb, ret)

    def departed(self, q: Qdisc, skb: SkBuff) -> None:
        """After a dequeue that let ``skb`` leave: note its sojourn and trace it."""
        now = self.sched.now
        enqueued = self.enqueued
        if enqueued is not None and (entered := enqueued.pop(skb, None)) is not None:
            self.log_time(now)
            self.log_sojourn(now - entered)
        if self.traced_dequeue:
            self.tp_dequeue.emit(now, q, skb)

    def watching_enqueue(self) -> _Probes | None:
        """These probes, if anything listens to an enqueue (None: the trampoline skips them)."""
        return self if self.traced_enqueue or self.enqueued is not None else None

    def tracing_bypass(self) -> bool:
        """Whether a tracepoint sees a bypass (if not, the device counts it and notes it
        in the sojourn log itself)."""
        return self.traced_enqueue or self.traced_dequeue

    def watching_dequeue(self) -> _Probes | None:
        """These probes, if anything listens to a dequeue (None: the trampoline skips them)."""
        return self if self.traced_dequeue or self.enqueued is not None else None


def _not_logging(value: int) -> None:
    raise AssertionError("sojourn appender called with no log kept")


def _bypass(q: Qdisc, probes: _Probes) -> Callable[[SkBuff], None]:
    """``q.bypass``: the general path's bypass (traced, or past a wire that is not plain).

    An untraced bypass past a plain wire the device counts and notes itself.
    """
    log_time, log_sojourn = probes.log_time, probes.log_sojourn
    logged = probes.enqueued is not None
    sched = q.sched
    tp_enq = q.tp_enqueue if probes.traced_enqueue else None
    tp_deq = q.tp_dequeue if probes.traced_dequeue else None

    def bypass(skb: SkBuff) -> None:
        """``sch_direct_xmit`` past an empty bypassable qdisc: counted as sent, never
        queued; its sojourn of 0 noted and traced as an enqueue and a dequeue if watched."""
        q.packets += 1
        q.bytes += skb.len
        now = sched.now
        if logged:
            log_time(now)
            log_sojourn(0)
        if tp_enq is not None:
            tp_enq.emit(now, q, skb, NET_XMIT_SUCCESS)
        if tp_deq is not None:
            tp_deq.emit(now, q, skb)

    return bypass


def _unchecked_enqueue(q: Qdisc, probes: _Probes) -> Callable[[SkBuff], int]:
    ctx, to_free = q.ctx, q._to_free
    enq: EnqueueCallback = q.ops.enqueue
    frame, running = q._frames["enqueue"], RUNNING
    watch = probes.watching_enqueue()

    def enqueue(skb: SkBuff) -> int:
        """Hand ``skb`` to the policy (no checks); returns its NET_XMIT_*."""
        q._entering = skb
        # The running frame still names the instance: collections created inside
        # the callback register with it.
        outer = running.frame
        running.frame = frame
        try:
            ret = enq(skb, ctx, to_free)
        finally:
            running.frame = outer
        q._entering = None
        if skb.owner is not FREED:
            q.qlen += 1
            q.backlog += skb.len
        if watch is not None:
            watch.entered(q, skb, ret)
        return ret

    return enqueue


def _checked_enqueue(q: Qdisc, probes: _Probes) -> Callable[[SkBuff], int]:
    ctx, to_free = q.ctx, q._to_free
    enq: UnverifiedEnqueue = q.ops.enqueue
    frame, running = q._frames["enqueue"], RUNNING
    acquired = frame.acquired
    # The probes are reached through ``watch`` behind one test (None: nothing listens):
    # every closed-over name costs each call, used or not.
    watch = probes.watching_enqueue()

    def enqueue(skb: SkBuff) -> int:
        """Hand ``skb`` to the policy; returns NET_XMIT_*.

        As in the kernel, ``sch.q.qlen`` does not yet count the skb while the
        policy decides; it is counted once the policy returns with it queued.
        """
        q._entering = skb
        outer = running.frame
        if outer is not None:  # a parent's callback hands it over (bpf_qdisc_enqueue)
            take(skb, frame, "enqueue to child")
        else:
            skb.owner = frame
        running.frame = frame
        length = skb.pkt_len = skb.len  # qdisc_pkt_len: what the checks hold len to
        try:
            ret = enq(skb, ctx, to_free)
            # The verdict and what happened to the skb are checked in the branch that
            # accounts them: queued (the common case: one test of the verdict) or dropped.
            owner = skb.owner
            if owner is not FREED:
                verdict = NET_XMIT_SUCCESS
                if ret != verdict or owner is frame or skb.len != length:
                    verdict = _check_queued(q, frame, skb, ret, length)  # raises unless valid
                if acquired:
                    check_exit(frame)
                q.qlen += 1
                q.backlog += length
            else:
                verdict = _VALID_RETURNS.get(ret, NET_XMIT_SUCCESS)
                if verdict == NET_XMIT_SUCCESS or skb.len != length:
                    raise violation(frame, skb, _bad_enqueue(ret, False, length, skb))
                if acquired:
                    check_exit(frame)
        except Exception as exc:
            running.frame = outer
            try:
                return q._fault_in(frame, exc, skb)
            finally:
                q._entering = None
        running.frame = outer
        q._entering = None
        if watch is not None:
            watch.entered(q, skb, verdict)
        return verdict

    return enqueue


def _check_queued(q: Qdisc, frame: Frame, skb: SkBuff, ret: object, length: int) -> int:
    """The verdict of an enqueue that kept ``skb`` queued, other than NET_XMIT_SUCCESS (or not)."""
    leaked = skb.owner is frame
    verdict = _VALID_RETURNS.get(ret)
    if leaked or verdict is None or skb.len != length:
        problem = _bad_enqueue(ret, leaked, length, skb)
        raise violation(frame, skb, _returned_at(q, "enqueue") + problem if leaked else problem)
    return verdict


def _returned_at(q: Qdisc, callback: str) -> str:
    """Where the policy's program returned, to lead a leak or stray return's report ('' if unsaid).

    A BPF qdisc whose callback leaves these checks to the trampoline names its
    program's exits in ``ops.returned_at``, as its own check would have.
    """
    where = getattr(q.ops, "returned_at", None)
    text = where.get(callback) if isinstance(where, dict) else None
    return f"{text}: " if text else ""


def _stray_return(q: Qdisc, frame: Frame, skb: object) -> str:
    """Why dequeue may not return ``skb``: led by where the program returned if it is not owned."""
    problem = _bad_dequeue_return(skb)
    if isinstance(skb, SkBuff) and skb.owner is not frame:
        return _returned_at(q, "dequeue") + problem
    return problem


def _unchecked_dequeue(q: Qdisc, probes: _Probes) -> Callable[[], SkBuff | None]:
    ctx = q.ctx
    deq: DequeueCallback = q.ops.dequeue
    frame, running = q._frames["dequeue"], RUNNING
    watch = probes.watching_dequeue()  # as the checked enqueue

    def dequeue() -> SkBuff | None:
        """The policy's next skb; no checks. (A peeked skb is dequeued by ``_dequeue_parked``.)"""
        outer = running.frame
        running.frame = frame
        try:
            skb = deq(ctx)
        finally:
            running.frame = outer
        if skb is None:
            return None
        length = skb.len
        q.qlen -= 1
        q.backlog -= length
        q.packets += 1
        q.bytes += length
        if watch is not None and not q._parking:  # a departure, not a peek parking the skb
            watch.departed(q, skb)
        return skb

    return dequeue


def _checked_dequeue(q: Qdisc, probes: _Probes) -> Callable[[], SkBuff | None]:
    ctx = q.ctx
    deq: UnverifiedDequeue = q.ops.dequeue
    frame, running = q._frames["dequeue"], RUNNING
    acquired = frame.acquired
    watch = probes.watching_dequeue()  # as the checked enqueue

    def dequeue() -> SkBuff | None:
        """Ask the policy for the next skb. (A peeked skb is dequeued by ``_dequeue_parked``.)"""
        outer = running.frame
        running.frame = frame
        try:
            skb = deq(ctx)
            if skb is None:  # nothing to account: only a leak to look for
                if acquired:
                    check_exit(frame)
                running.frame = outer
                return None
            if (
                skb.__class__ is not SkBuff
                or skb.owner is not frame
                or (length := skb.len) != skb.pkt_len
            ):
                raise violation(frame, skb, _stray_return(q, frame, skb))
            # The common case: popped one skb and returned it. Anything else is
            # put back for check_exit (which finds a leak, or clears the list).
            if acquired and ((last := acquired.pop()) is not skb or acquired):
                acquired.append(last)
                check_exit(frame, keep=skb)
        except Exception as exc:
            running.frame = outer
            q._fault_in(frame, exc, None)
            return None
        running.frame = outer
        if outer is not None:  # a parent's callback now owns it (bpf_qdisc_dequeue)
            skb.owner = outer
            outer.acquired.append(skb)
        else:
            skb.owner = None
        q.qlen -= 1
        q.backlog -= length
        q.packets += 1
        q.bytes += length
        if watch is not None and not q._parking:  # a departure, not a peek parking the skb
            watch.departed(q, skb)
        return skb

    return dequeue


def _head_dequeue(q: Qdisc, probes: _Probes) -> Callable[[], SkBuff | None]:
    """The generic ``qdisc_dequeue_head`` as the mechanism's code: no policy runs, nothing to check.

    The head of ``sch->q`` goes to whoever dequeues (a parent's callback, or
    the device) exactly as the policy's dequeue would have handed it over. An
    skb whose ``len`` was written while queued is the one fault left to catch.
    """
    skbs = q.head.skbs
    checked = q._checked
    frame, running = q._frames["dequeue"], RUNNING
    watch = probes.watching_dequeue()  # as the checked enqueue

    def dequeue() -> SkBuff | None:
        """The head of the qdisc's own queue, or None. (A peeked skb: ``_dequeue_parked``.)"""
        if not skbs:
            return None
        skb = skbs.popleft()
        length = skb.len
        if checked:
            if length != skb.pkt_len:
                skb.owner = frame
                frame.acquired.append(skb)
                q._fault_in(frame, violation(frame, skb, _bad_dequeue_return(skb)), None)
                return None
            outer = running.frame
            if outer is not None:  # a parent's callback now owns it (bpf_qdisc_dequeue)
                skb.owner = outer
                outer.acquired.append(skb)
            else:
                skb.owner = None
        q.qlen -= 1
        q.backlog -= length
        q.packets += 1
        q.bytes += length
        if watch is not None and not q._parking:  # a departure, not a peek parking the skb
            watch.departed(q, skb)
        return skb

    return dequeue


@mypyc_attr(allow_interpreted_subclasses=True)  # as Qdisc, built on it
class QdiscTrampolines(QdiscContainment):
    """The generic peek, shared by both modes (fields declared by ``QdiscState``)."""

    __slots__ = ()

    def _take_head(self) -> SkBuff | None:
        """Dequeue once for the infrastructure (a peek, a change's trim): still counted inside."""
        skb = self._unpark()
        if skb is not None:
            return skb
        running = RUNNING
        outer = running.frame
        running.frame = None  # the infrastructure, not the caller, holds the skb
        self._parking = True
        try:
            skb = self.dequeue()
        finally:
            running.frame = outer
            self._parking = False
        if skb is None:
            return None
        # Undo dequeue's accounting: the skb is still inside this qdisc.
        self.qlen += 1
        self.backlog += skb.len
        self.packets -= 1
        self.bytes -= skb.len
        return skb

    def _dequeue_parked(self) -> SkBuff | None:
        """``dequeue`` while a peek has parked an skb (the kernel's gso_skb): that skb first.

        Installed as ``dequeue`` only while an skb is parked, so the policy's
        dequeue does not test for one on every packet.
        """
        skb = self._unpark()
        if skb is None:  # an infrastructure path took it meanwhile
            self.dequeue = self._policy_dequeue
            return self.dequeue()
        if self._checked:
            # Hand it to whoever dequeues (a parent's callback via bpf_qdisc_dequeue, or the device).
            outer = RUNNING.frame
            skb.owner = outer
            if outer is not None:
                outer.acquired.append(skb)
        length = skb.len
        self.qlen -= 1
        self.backlog -= length
        self.packets += 1
        self.bytes += length
        if not self._parking:  # a departure (as the policy's dequeue notes one)
            now = self.sched.now
            log = self.sojourn
            if log is not None and (entered := log.pending.pop(skb, None)) is not None:
                log.times.append(now)
                log.sojourn.append(now - entered)
            tp = self.tp_dequeue
            if tp.listeners:
                tp.emit(now, self, skb)
        return skb

    def peek(self) -> SkBuff | None:
        """Generic ``qdisc_peek_dequeued``: dequeue once and park the skb until the next dequeue."""
        skb = self._gso_skb
        if skb is None:
            skb = self._take_head()
            if skb is None:
                return None
            skb.owner = self
            self._gso_skb = skb
            self.dequeue = self._dequeue_parked
            tp = self.tp_requeue
            if tp.listeners:
                tp.emit(self.sched.now, self, skb)
        return skb


def _bad_enqueue(ret: object, leaked: bool, length: int, skb: SkBuff) -> str:
    if leaked:
        return "enqueue returned while still owning its skb (leak: neither queued nor dropped)"
    if _VALID_RETURNS.get(ret) is None:
        return (
            f"enqueue returned {ret!r} ({type(ret).__name__}), not a NET_XMIT_* code "
            "(return NET_XMIT_SUCCESS, or what sch.drop() returns)"
        )
    if skb.len != length:
        return undo_len_write("enqueue", skb)
    return (
        "enqueue returned NET_XMIT_SUCCESS but dropped the skb (a caller would count it as "
        "queued; return what sch.drop() returns)"
    )


def _bad_dequeue_return(obj: object) -> str:
    if not isinstance(obj, SkBuff):
        return f"dequeue returned a {type(obj).__name__}, not an owned skb or None"
    if obj.owner is FREED:
        return "dequeue returned an skb that was already freed (dangling)"
    if obj.len != obj.pkt_len:
        return undo_len_write("dequeue", obj)
    return "dequeue returned an skb it does not own (still queued or forged)"
