"""``QdiscContext``: the ``sch`` a qdisc policy receives, and its kfuncs.

A policy never sees the ``Qdisc`` mechanism. It sees this narrow object:

* **kfuncs**, each a method declared once with ``@kfunc`` (kernel name,
  callbacks allowed to call it, flags, doc): ``sch.drop``, ``sch.kfree_skb``,
  ``sch.watchdog_schedule``, ``sch.random_u32`` ... (``qdisclab kfuncs``);
* **read-only views**: ``qlen``, ``backlog``, ``drops``, ``bytes``,
  ``packets``, ``requeues``, ``overlimits``, ``handle``, ``parent``, ``kind``,
  ``mtu``, ``tx_queue_len``, ``now``, and the kernel spellings ``sch.q.qlen``,
  ``sch.qstats.backlog``, ``sch.bstats.bytes``;
* **the qdisc's own queue** (``sch->q`` and its ``sch_generic.h`` helpers,
  see ``headq``): ``enqueue_tail``, ``dequeue_head``, ``peek_head``,
  ``reset_queue``;
* **writable**: ``limit`` (as the kernel's BPF qdisc may write ``sch->limit``)
  and the counters the infrastructure cannot derive, ``overlimits`` and
  ``requeues`` (a throttle or a reorder is the policy's decision).

Anything else is refused at once with a message naming the attribute:
calling ``sch.reset()`` or ``sch.graft()`` (infrastructure), writing a
counter (``sch.qlen += 5``, ``sch.q.qlen += 1``, ``sch.backlog = 0``,
``sch.drops``) or a fixed value (``sch.handle``, ``sch.mtu``). The counters
live on the mechanism (``Qdisc`` slots, which the accounting writes at slot
speed); ``sch`` reads them through properties that have no way to write.

>>> from qdisclab.ops import KFUNCS
>>> KFUNCS.get("bpf_qdisc_skb_drop", "Qdisc_ops").python
'sch.drop()'
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NoReturn

from qdisclab.errors import ExtensionFault
from qdisclab.ops import (
    KF_ACQUIRE,
    KF_RELEASE,
    KF_RET_NULL,
    KF_TRUSTED_ARGS,
    RUNNING,
    KfuncContext,
    kfunc,
)
from qdisclab.ops.kfunc import ALL_MEMBERS
from qdisclab.ops.ownership import take, violation
from qdisclab.sched.constants import NET_XMIT_DROP, NET_XMIT_MASK, TC_H_MAJ
from qdisclab.sched.headq import HEAD_QUEUE_HELPERS
from qdisclab.skb import DROP_QDISC, DROP_RESET, FREED, INET_ECN_CE, INET_ECN_NOT_ECT, SkBuff

if TYPE_CHECKING:
    from qdisclab.sched.ops import ToFree
    from qdisclab.sched.qdisc import Qdisc
    from qdisclab.sched.state import QdiscDevice

IFACE = "Qdisc_ops"
CALLBACKS = ("enqueue", "dequeue", "init", "reset", "destroy")
# The callbacks that run in a frame of their own, each with the callback whose kfunc
# allow-list it carries: the five, and a built-in kind's ``tc_change`` (the kernel's
# ``change``, which an extension may not provide), which may call what init may, as
# the kernel's init of most kinds is their change (prio_tune creates bands in both).
FRAMED_CALLBACKS = {**{name: name for name in CALLBACKS}, "change": "init"}
# Kfuncs every callback may call: no allow-list to enforce, so no check on the call.
EVERY = (ALL_MEMBERS,)


def _view(path: str, doc: str, prefix: str = "sch") -> property:
    """A read-only view of the mechanism; writing it is refused, naming it."""
    name = path.rsplit(".", 1)[-1]

    def refuse(self: Any, value: Any) -> NoReturn:
        raise _refused(f"{prefix}.{name} is read-only to a policy")

    return property(attrgetter(path), refuse, doc=doc)


def _counter(name: str, doc: str) -> property:
    """A counter of the mechanism, read per packet by policies; a write is refused."""
    read = _READERS[name]

    def refuse(self: QdiscContext, value: Any) -> NoReturn:
        raise _refused(
            f"sch.{name} is read-only to a policy: the infrastructure accounts it from the "
            "ownership transitions (queue, drop, dequeue)"
        )

    return property(read, refuse, doc=doc)


# One plain getter per counter: a property calls a Python function faster than a dotted
# attrgetter (measured on CPython 3.11), and qlen/backlog are read per packet.
_READERS = {
    "qlen": lambda self: self._q.qlen,
    "backlog": lambda self: self._q.backlog,
    "drops": lambda self: self._q.drops,
    "bytes": lambda self: self._q.bytes,
    "packets": lambda self: self._q.packets,
}
# The attribute path each counter's property reads: what a translated BPF program's
# proven read of the counter reads in place, without the property's call.
COUNTER_PATHS = {name: f"_q.{name}" for name in _READERS}


def _policy_field(name: str, doc: str) -> property:
    def write(self: QdiscContext, value: int) -> None:
        if value.__class__ is not int:
            raise _refused(f"sch.{name} must be an int (got {type(value).__name__})")
        setattr(self._q, name, value)

    return property(attrgetter(f"_q.{name}"), write, doc=doc)


def undo_len_write(callback: str, skb: SkBuff) -> str:
    """The diagnostic of a policy that changed ``skb.len`` (read-only to it in every callback).

    ``len`` is put back to what the books hold, so a contained fault frees the
    packet at the length every counter up the tree accounted.
    """
    written, skb.len = skb.len, skb.pkt_len
    return (
        f"{callback} wrote skb.len ({skb.pkt_len} -> {written}): read-only to a qdisc policy "
        "(it may write skb.tstamp and skb.cb)"
    )


def _check_len(skb: SkBuff) -> None:
    """A policy letting go of ``skb`` must leave ``len`` as the qdisc layer accounted it."""
    if skb.len != skb.pkt_len:
        frame = RUNNING.frame
        raise violation(frame, skb, undo_len_write(frame.callback if frame else "?", skb))


def _refused(problem: str) -> ExtensionFault:
    frame = RUNNING.frame
    if frame is None:
        return ExtensionFault("?", "(no callback running)", problem)
    return ExtensionFault(frame.kind, frame.callback, problem)


class DeviceView:
    """``sch.dev``: what a policy may read of its device (``sch->dev_queue->dev``)."""

    __slots__ = ("_dev",)

    def __init__(self, dev: QdiscDevice) -> None:
        object.__setattr__(self, "_dev", dev)

    if TYPE_CHECKING:  # what the views below read as

        @property
        def name(self) -> str: ...
        @property
        def mtu(self) -> int: ...
        @property
        def tx_queue_len(self) -> int: ...

    else:
        name = _view("_dev.name", "the device name", "sch.dev")
        mtu = _view("_dev.mtu", "the device MTU", "sch.dev")
        tx_queue_len = _view("_dev.tx_queue_len", "txqueuelen", "sch.dev")

    @property
    def node(self) -> Any:
        """The node the device belongs to (for naming; read it, do not drive it)."""
        return getattr(self._dev, "node", None)

    @property
    def world(self) -> Any:
        """The simulated world, to resolve pinned maps and named RNG streams at init."""
        return getattr(self._dev, "world", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise _refused(f"sch.dev.{name} is read-only to a policy")

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        raise _refused(
            f"sch.dev.{name} is infrastructure, not available to a policy "
            "(sch.dev offers name, mtu, tx_queue_len, node, world)"
        )


class QdiscContext(KfuncContext, interface=IFACE, prefix="sch"):
    """What a qdisc policy receives as ``sch``: its kfuncs and read-only views.

    ``help(sch)`` lists exactly these. Example (inside ``enqueue``)::

        if sch.q.qlen >= sch.limit:
            return sch.drop(skb, to_free)
    """

    # q/qstats/bstats: this object again, for the kernel spellings (plain slots: read per packet).
    # _hash_seed: fixed at creation, copied here because skb_get_hash reads it per packet.
    # enqueue_tail ...: the qdisc's own queue's helpers (``headq.HEAD_QUEUE_HELPERS``), bound
    # methods in slots: a policy's call reaches the helper with no call in between.
    __slots__ = (
        "_dev", "_hash_seed", "_q", "_sched", "bstats", "limit", "q", "qstats",
        *HEAD_QUEUE_HELPERS,
    )  # fmt: skip

    def __init__(self, q: Qdisc) -> None:
        self._q = q
        self._sched = q.sched
        self._hash_seed = q.hash_seed
        self.q = self.qstats = self.bstats = self
        self._dev = DeviceView(q.dev)
        self.limit = 0
        head = q.head
        for name in HEAD_QUEUE_HELPERS:
            setattr(self, name, getattr(head, name))

    # -- read-only views ---------------------------------------------------------
    if TYPE_CHECKING:  # what the views below read as (built by _counter/_view/_policy_field)

        @property
        def qlen(self) -> int: ...
        @property
        def backlog(self) -> int: ...
        @property
        def drops(self) -> int: ...
        @property
        def bytes(self) -> int: ...
        @property
        def packets(self) -> int: ...
        @property
        def handle(self) -> int: ...
        @property
        def hash_seed(self) -> int: ...
        @property
        def parent(self) -> int: ...
        @property
        def kind(self) -> str: ...
        @property
        def mtu(self) -> int: ...
        @property
        def tx_queue_len(self) -> int: ...
        @property
        def now(self) -> int: ...
        @property
        def dev(self) -> DeviceView: ...

        @property
        def overlimits(self) -> int: ...
        @overlimits.setter
        def overlimits(self, value: int) -> None: ...
        @property
        def requeues(self) -> int: ...
        @requeues.setter
        def requeues(self, value: int) -> None: ...

        limit: int
        enqueue_tail: Callable[[SkBuff], int]
        dequeue_head: Callable[[], SkBuff | None]
        peek_head: Callable[[], SkBuff | None]
        reset_queue: Callable[[], None]
        q: QdiscContext
        qstats: QdiscContext
        bstats: QdiscContext

    else:
        qlen = _counter("qlen", "packets queued in this qdisc tree (``sch->q.qlen``)")
        backlog = _counter("backlog", "bytes queued in this qdisc tree (``sch->qstats.backlog``)")
        drops = _counter("drops", "packets dropped (``sch->qstats.drops``)")
        bytes = _counter("bytes", "bytes dequeued (``sch->bstats.bytes``)")
        packets = _counter("packets", "packets dequeued (``sch->bstats.packets``)")
        overlimits = _policy_field(
            "overlimits", "throttle events (``qstats.overlimits``; writable)"
        )
        requeues = _policy_field("requeues", "requeue events (``qstats.requeues``; writable)")
        handle = _view("_q.handle", "this qdisc's handle (``sch->handle``)")
        hash_seed = _view("_q.hash_seed", "the seed of this run's flow hashes (``skb_get_hash``)")
        parent = _view("_q.parent", "the parent classid (``TC_H_ROOT`` for a root qdisc)")
        kind = _view("_q.kind", "the kind name (the ops table's ``id``)")
        mtu = _view("_q.dev.mtu", "``psched_mtu(dev)``: the device MTU")
        tx_queue_len = _view("_q.dev.tx_queue_len", "the device's txqueuelen")
        now = _view("_sched.now", "the current time in ns (``bpf_ktime_get_ns``)")

        dev = _view("_dev", "what a policy may read of its device (``DeviceView``)")

    @property
    def watchdog_pending(self) -> bool:
        """Whether this qdisc's watchdog is armed."""
        return self._q.watchdog.pending

    def __repr__(self) -> str:
        return f"<sch of {self._q!r}>"

    # -- kfuncs --------------------------------------------------------------------
    @kfunc("bpf_qdisc_skb_drop", allowed={"enqueue"}, flags=KF_RELEASE)
    def drop(self, skb: SkBuff, to_free: ToFree, reason: str = DROP_QDISC) -> int:
        """Drop an owned skb onto the deferred free list; counts a drop; returns NET_XMIT_DROP."""
        q = self._q
        if q._checked:
            if to_free is not q._to_free:
                raise ExtensionFault(
                    q.kind, "enqueue", "sch.drop() (bpf_qdisc_skb_drop): to_free is not this "
                    "call's list (pass enqueue's to_free)"
                )  # fmt: skip
            if skb.owner is not RUNNING.frame:
                take(skb, FREED, "sch.drop() (bpf_qdisc_skb_drop)")  # raises the diagnostic
            _check_len(skb)
        q._account_drop(skb, reason)  # marks it FREED
        return NET_XMIT_DROP

    @kfunc("bpf_kfree_skb", allowed=EVERY, flags=KF_RELEASE)
    def kfree_skb(self, skb: SkBuff, reason: str | None = None) -> None:
        """Free an owned skb now; counted as a drop (reason ``reset`` in reset/destroy)."""
        q = self._q
        if q._checked:
            _check_len(skb)
            take(skb, FREED, "sch.kfree_skb() (bpf_kfree_skb)")
        if reason is None:  # under every policy: the reason is the callback's, not the checks'
            frame = RUNNING.frame
            in_reset = frame is not None and frame.callback in ("reset", "destroy")
            reason = DROP_RESET if in_reset else DROP_QDISC
        q._account_drop(skb, reason)

    @kfunc("bpf_qdisc_skb_clone", allowed={"enqueue"}, flags=KF_ACQUIRE)
    def skb_clone(self, skb: SkBuff) -> SkBuff:
        """A new owned packet copied from ``skb`` (netem's duplicate); qdisclab kfunc.

        The copy is booked as sent and already counted in this qdisc tree's
        qlen/backlog: queue it like any skb, or drop it with ``sch.drop``.
        """
        q = self._q
        frame = RUNNING.frame if q._checked else None
        books = skb.flow
        if books is None:
            raise _refused("sch.skb_clone() (bpf_qdisc_skb_clone): the skb has no flow to book")
        clone = skb.clone(q.sched.now)
        books.book_sent(clone)
        clone.owner = frame
        if frame is not None:
            frame.acquired.append(clone)
        q._grow_tree(1, clone.len)
        return clone

    @kfunc("bpf_qdisc_watchdog_schedule", allowed={"enqueue", "dequeue"}, flags=KF_TRUSTED_ARGS)
    def watchdog_schedule(self, expire: int, delta_ns: int = 0) -> None:
        """Ask to be dequeued again at ``expire`` ns (a past expiry fires at once)."""
        self._q.watchdog.schedule(expire, delta_ns)

    @kfunc("bpf_skb_get_hash", allowed=EVERY, flags=KF_TRUSTED_ARGS)
    def skb_get_hash(self, skb: SkBuff) -> int:
        """The flow hash (computed once, cached in the skb)."""
        return skb.get_hash(self._hash_seed)

    @kfunc("bpf_dynptr_from_skb", allowed=EVERY, flags=KF_TRUSTED_ARGS)
    def skb_data(self, skb: SkBuff) -> memoryview:
        """A read-only view of the payload bytes (``b''`` when none)."""
        if self._q._checked and skb.owner is FREED:
            raise violation(
                RUNNING.frame, skb, "sch.skb_data() (bpf_dynptr_from_skb): skb already released"
            )
        return memoryview(skb.payload or b"").toreadonly()

    @kfunc("bpf_skb_ecn_set_ce", allowed={"enqueue", "dequeue"}, flags=KF_TRUSTED_ARGS)
    def set_ce(self, skb: SkBuff) -> bool:
        """Mark Congestion Experienced if ECN-capable (``INET_ECN_set_ce``); qdisclab kfunc."""
        if skb.ecn == INET_ECN_NOT_ECT:
            return False
        skb.ecn = INET_ECN_CE
        return True

    @kfunc("bpf_ktime_get_ns", allowed=EVERY)
    def ktime_get_ns(self) -> int:
        """The current time in ns (a base helper in the kernel; the same as ``sch.now``)."""
        return self._q.sched.now

    @kfunc("bpf_get_prandom_u32", allowed=EVERY)
    def random_u32(self) -> int:
        """A pseudo-random u32 from this qdisc's named stream of the run seed (deterministic)."""
        return self._q.rng.getrandbits(32)

    @kfunc("bpf_qdisc_create_child", allowed={"init"}, flags=KF_TRUSTED_ARGS)
    def create_child(self, minor: int, spec: str) -> QdiscContext:
        """A child qdisc at class ``major:minor`` from a tc spec (RFC v8); returns its ``sch``."""
        return self._q.create_child(minor, spec).ctx

    @kfunc("bpf_qdisc_find_class", allowed=EVERY, flags=KF_TRUSTED_ARGS | KF_RET_NULL)
    def find_class(self, classid: int) -> QdiscContext | None:
        """The child qdisc at ``classid`` (major must match), or None (RFC v8)."""
        q = self._q
        if TC_H_MAJ(classid) != TC_H_MAJ(q.handle):
            return None
        child = q.children.get(classid & 0xFFFF)
        return None if child is None else child.ctx

    @kfunc("bpf_qdisc_enqueue", allowed={"enqueue"}, flags=KF_RELEASE)
    def enqueue_child(self, skb: SkBuff, child: QdiscContext | None, to_free: ToFree) -> int:
        """Hand an owned skb to ``child``; returns its NET_XMIT_* (RFC v8; None is not a child)."""
        q = self._q
        cq = _mechanism(child)
        if cq is None or (q._checked and cq.parent_q is not q):
            raise ExtensionFault(
                q.kind, "enqueue", "sch.enqueue_child() (bpf_qdisc_enqueue): not my child"
            )
        if q._checked:
            _check_len(skb)  # before the child's enqueue accounts it afresh
        ret = cq.enqueue(skb)
        if ret & NET_XMIT_MASK == NET_XMIT_DROP:
            # The child's drop already left every ancestor's qlen; count it here too,
            # as the kernel's classful parents do (qdisc_qstats_drop on a child's drop).
            q.drops += 1
        return ret

    @kfunc("bpf_qdisc_dequeue", allowed={"dequeue"}, flags=KF_ACQUIRE | KF_RET_NULL)
    def dequeue_child(self, child: QdiscContext | None) -> SkBuff | None:
        """Take the next skb from ``child`` (owned by the caller), or None (RFC v8)."""
        return _child_of(self, child, "sch.dequeue_child() (bpf_qdisc_dequeue)").dequeue()

    @kfunc("bpf_qdisc_peek", allowed={"enqueue", "dequeue"}, flags=KF_TRUSTED_ARGS | KF_RET_NULL)
    def peek_child(self, child: QdiscContext | None) -> SkBuff | None:
        """The child's next skb without taking it (still the child's), or None; qdisclab kfunc."""
        return _child_of(self, child, "sch.peek_child() (bpf_qdisc_peek)").peek()

    @kfunc("bpf_skb_tc_classify", allowed={"enqueue"}, flags=KF_TRUSTED_ARGS)
    def tc_classify(self, skb: SkBuff, qdisc: QdiscContext | None = None) -> int:
        """Run the tc filters of ``qdisc`` (default: mine); the classid or 0 (sch_bpf)."""
        q = self._q if qdisc is None else _mechanism(qdisc)
        if q is None:
            raise _refused("sch.tc_classify() (bpf_skb_tc_classify): qdisc is not a qdisc's sch")
        return q.classify(skb)


def _mechanism(ctx: object) -> Qdisc | None:
    """The qdisc behind a ``sch`` (either twin), or None for anything else."""
    return ctx._q if isinstance(ctx, QdiscContext) else None


def _child_of(ctx: QdiscContext, child: object, what: str) -> Qdisc:
    cq = _mechanism(child)
    q = ctx._q
    if cq is None or (q._checked and cq.parent_q is not q):
        raise ExtensionFault(q.kind, RUNNING.frame.callback if RUNNING.frame else "?",
                             f"{what}: not my child")  # fmt: skip
    return cq


def _refuse_infrastructure(name: str) -> property:
    def refuse(self: QdiscContext) -> NoReturn:
        raise _refused(
            f"sch.{name} is infrastructure, not available to a policy; "
            f"a policy may use: {', '.join(_public_names())}"
        )

    return property(refuse, doc=f"refused: ``{name}`` belongs to the infrastructure")


def _install_refusals() -> None:
    """Name the mechanism's own attributes on ``sch`` so touching one is refused clearly.

    Explicit properties rather than ``__getattr__``: a class with ``__getattr__``
    makes every attribute read on it slower, and ``sch`` is read per packet.
    """
    from qdisclab.sched.qdisc import Qdisc

    # Every class of the mechanism, its slots (QdiscState's fields) included.
    infrastructure = {name for klass in Qdisc.__mro__ for name in vars(klass)}
    for name in sorted(infrastructure):
        if name.startswith("_") or hasattr(QdiscContext, name):
            continue
        setattr(QdiscContext, name, _refuse_infrastructure(name))


def _public_names() -> list[str]:
    return sorted(
        name
        for name, value in vars(QdiscContext).items()
        if not name.startswith("_")
        and name not in ("unchecked", "interface", "prefix", "kfuncs")
        and not (isinstance(value, property) and (value.__doc__ or "").startswith("refused"))
    )
