"""``Qdisc``: one qdisc instance, the mundane part around a ``QdiscOps`` policy.

The mechanism is split by job, one module each:

* ``trampoline``: ``enqueue`` / ``dequeue`` / ``peek``, which run the policy's
  callbacks with ownership checks and return-value validation;
* ``accounting``: qlen, backlog, drops by reason, bytes/packets up the tree;
* ``containment``: what a fault does under ``strict`` and ``contain``;
* ``report``: the ``tc -s qdisc show`` text and the results row;
* ``context``: the narrow ``sch`` a policy receives, with its kfuncs.

This module holds the instance itself: its state, the lifecycle (init, reset,
destroy), children and classification. The device drives it through
``enqueue`` (returning NET_XMIT_*), ``dequeue``, ``bypass`` and ``qlen``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from random import Random
from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr

from qdisclab.errors import ExtensionFault, KernelError, UserError
from qdisclab.ops import KFUNCS, POLICY_CONTAIN, POLICY_OFF, POLICY_STRICT, RUNNING, Frame, Storage
from qdisclab.ops.ownership import check_exit
from qdisclab.sched import report
from qdisclab.sched.accounting import SojournLog
from qdisclab.sched.constants import TC_H_MAKE, TC_H_ROOT
from qdisclab.sched.context import FRAMED_CALLBACKS, IFACE, QdiscContext, _install_refusals
from qdisclab.sched.filters import FilterChain
from qdisclab.sched.handle import format_handle
from qdisclab.sched.headq import QdiscSkbHead, UncheckedSkbHead
from qdisclab.sched.ops import QdiscOps, ToFree
from qdisclab.sched.state import QdiscDevice
from qdisclab.sched.tracepoints import (
    QDISC_CREATE,
    QDISC_DEQUEUE,
    QDISC_DROP,
    QDISC_ENQUEUE,
    QDISC_REQUEUE,
)
from qdisclab.sched.trampoline import (
    QdiscTrampolines,
    bind_trampolines,
    tell_device_bypass_changed,
)
from qdisclab.sched.watchdog import QdiscWatchdog
from qdisclab.sim.tracepoint import ProbeSiteProxy, tracepoint
from qdisclab.skb import DROP_QDISC, DROP_RESET, SkBuff

if TYPE_CHECKING:
    from qdisclab.sim import RealtimeScheduler, Scheduler

#: ``create(spec, dev, parent=..., parent_q=...) -> Qdisc``: how children are made
#: (``registry.create_qdisc``, handed in so this module does not import the registry).
QdiscFactory = Callable[..., "Qdisc"]
# The callbacks whose frames a qdisc needs from the start: its datapath, and init.
_EAGER_FRAMES = ("init", "enqueue", "dequeue")


def live_qdiscs(sched: Scheduler | RealtimeScheduler) -> list[Qdisc]:
    """Every qdisc instance of ``sched``'s run still alive (children included)."""
    sites = tracepoint(sched, QDISC_DEQUEUE).sites
    proxies = [site for site in sites if isinstance(site, ProbeSiteProxy)]
    return [proxy.target for proxy in proxies if isinstance(proxy.target, Qdisc)]


@mypyc_attr(allow_interpreted_subclasses=True)  # a tool may extend the mechanism
class Qdisc(QdiscTrampolines):
    """A qdisc instance (the mechanism). ``q.qlen``, ``q.backlog``, ``q.drops`` ... read as in tc."""

    __slots__ = ()

    def __init__(
        self,
        ops_cls: type[QdiscOps],
        dev: QdiscDevice,
        handle: int,
        parent: int = TC_H_ROOT,
        parent_q: Qdisc | None = None,
        policy: str | None = None,
        factory: QdiscFactory | None = None,
    ) -> None:
        self.kind = ops_cls.id
        self.dev = dev
        self.sched = sched = dev.sched
        self.handle = handle
        self.parent = parent
        self.parent_q = parent_q
        self.policy = policy or str(getattr(dev, "ownership_policy", POLICY_STRICT))
        if self.policy == POLICY_OFF and ops_cls.verified_at_load:
            self.policy = POLICY_STRICT  # off skips its load-time verifier, not both layers
        self._checked = self.policy != POLICY_OFF
        self.hash_seed = getattr(dev, "hash_seed", 0)
        self._factory = factory
        self.qlen = 0  # packets in this qdisc tree (sch->q.qlen), kept by the accounting
        self.backlog = 0  # their bytes (sch->qstats.backlog)
        self.drops = 0
        self.overlimits = 0
        self.requeues = 0
        self.bytes = 0
        self.packets = 0
        self.drop_reasons = {}
        self.storage = Storage()  # collections created by this instance
        self.children = {}  # class minor -> child qdisc
        where = f"{getattr(dev, 'name', '?')} parent {format_handle(handle)}"
        self.filters = FilterChain(self._filter_fault, where)
        self.watchdog = QdiscWatchdog(sched, dev)
        self._rng = None
        self.fault = None
        self.on_fault = None
        self.opt = {}
        self.spec = ops_cls.id
        self._gso_skb = None
        self._entering = None  # the skb inside enqueue, not yet counted
        self._parking = False  # peek is dequeuing to park an skb (not a departure)
        self._to_free = ToFree()
        self.tp_enqueue = tracepoint(sched, QDISC_ENQUEUE)
        self.tp_dequeue = tracepoint(sched, QDISC_DEQUEUE)
        self.tp_drop = tracepoint(sched, QDISC_DROP)
        self.tp_requeue = tracepoint(sched, QDISC_REQUEUE)
        self.sojourn = None  # kept while a tool asks (``log_sojourn``)
        # The frames every qdisc runs in; those of reset, destroy and change are made
        # the first time they run (most qdiscs of a run never change or reset).
        self._frames = {}
        for name in _EAGER_FRAMES:
            self._new_frame(name)
        self.head = (QdiscSkbHead if self._checked else UncheckedSkbHead)(self)
        self.ctx = (QdiscContext if self._checked else QdiscContext.unchecked)(self)
        # The policy's constructor runs as part of init: collections it creates belong
        # to this instance, so containment and destroy find them.
        self.ops = self._call("init", ops_cls)
        # The trampolines are rebuilt when a listener comes or goes (rebind_probes).
        self._probe_site = site = ProbeSiteProxy(self)
        self.tp_enqueue.add_site(site)
        self.tp_dequeue.add_site(site)
        # TCQ_F_CAN_BYPASS: an empty work-conserving fifo on an idle device may be skipped.
        self.can_bypass = bool(getattr(ops_cls, "can_bypass", False))
        tp = tracepoint(sched, QDISC_CREATE)
        if tp.listeners:
            tp.emit(sched.now, self)
        self._bind_unless_logging()

    def _bind_unless_logging(self) -> None:
        # A create listener that started a sojourn log (a measured run's recorder) has
        # bound the trampolines for it already: binding them before would build them
        # twice. (A method of its own: in __init__, sojourn reads as the None set there.)
        if self.sojourn is None:
            bind_trampolines(self)

    def rebind_probes(self) -> None:
        """Rebuild the trampolines for the listeners and sojourn log there are now."""
        bind_trampolines(self)

    def log_sojourn(self, log: SojournLog | None) -> None:
        """Start noting per-packet sojourn into ``log`` (None stops); see ``SojournLog``."""
        self.sojourn = log
        bind_trampolines(self)

    @property
    def rng(self) -> Random:
        """This instance's stream of the run seed (``sch.random_u32``), named by where it sits.

        Made the first time a policy draws from it: most kinds never do, and seeding
        a stream is most of what creating a qdisc costs (a 256-flow dumbbell makes 1026).
        """
        rng = self._rng
        if rng is None:
            rng = self._rng = _random_stream(self.dev, self.kind, self.handle)
        return rng

    @property
    def limit(self) -> int:
        """The policy's limit (``sch->limit``: the policy sets it, the kernel does not enforce it)."""
        return self.ctx.limit

    # -- lifecycle -------------------------------------------------------------
    def init(self, opt: dict[str, Any]) -> None:
        """Run the policy's init (the watchdog already exists, as the prologue guarantees)."""
        self.opt = opt
        try:
            ret = self._call("init", self.ops.init, self.ctx, opt)
        except (UserError, KernelError, ExtensionFault):
            self._call_quietly("destroy")
            raise
        if isinstance(ret, int) and ret < 0:
            self._call_quietly("destroy")
            raise KernelError(-ret, f"qdisc {self.kind}: init failed")
        self._update_bypass()

    def _update_bypass(self) -> None:
        # TCQ_F_CAN_BYPASS as fifo_init sets it: only where the configured queue
        # could hold the packet it lets past (a pfifo of limit 0 drops everything).
        may_bypass = getattr(self.ops, "may_bypass", None)
        if may_bypass is not None:
            self.can_bypass = bool(getattr(type(self.ops), "can_bypass", False)) and bool(
                may_bypass(self.ctx)
            )
            tell_device_bypass_changed(self)

    def change(self, opt: dict[str, Any]) -> bool:
        """``qdisc_change``: new parameters for the live qdisc, its queued packets kept.

        The kind's ``tc_change(sch, opt)`` (built-in kinds only: ``change`` is not
        open to an extension) alters its parameters in place; a kind whose kernel
        ``change`` trims the queue by dequeuing (fq, fq_codel) names the condition
        in ``tc_over_limit(sch)``, and the packets it dequeues are dropped here and
        counted; one whose inner fifo follows its limit (tbf) names that child's
        minor in ``tc_inner_fifo``. False when the kind has no ``tc_change``.
        ``tc qdisc change dev d0 root fq limit 20`` ends in
        ``q.change({**q.opt, "limit": 20})``: 20 of fq's packets stay, the rest
        are dropped.
        """
        change = getattr(self.ops, "tc_change", None)
        if change is None:
            return False
        ret = self._call("change", change, self.ctx, opt)
        if isinstance(ret, int) and ret < 0:
            raise KernelError(-ret, f"qdisc {self.kind}: change failed")
        self.opt = opt
        find = getattr(self.ops, "tc_find_class", None)
        for minor in [m for m in self.children if find is not None and find(m) is None]:
            self._remove_child(self.children.pop(minor))  # a class the change took away
        inner_minor: int | None = getattr(self.ops, "tc_inner_fifo", None)
        inner = None if inner_minor is None else self.children.get(inner_minor)
        if inner is not None and inner.kind in ("pfifo", "bfifo"):
            inner.change({**inner.opt, "limit": self.ctx.limit})  # fifo_set_limit: fifos only
        over_limit = getattr(self.ops, "tc_over_limit", None)
        if over_limit is not None:
            while over_limit(self.ctx) and (skb := self._take_head()) is not None:
                self._drop_owned(skb, DROP_QDISC)
        self._update_bypass()
        return True

    def reset(self) -> None:
        """``qdisc_reset``: policy reset, cancel the watchdog, purge the peeked skb, reset children."""
        if self.fault is None:
            self._call("reset", self.ops.reset, self.ctx)
        self.watchdog.cancel()
        skb = self._unpark()
        if skb is not None:
            self._drop_owned(skb, DROP_RESET)
        for child in self.children.values():
            child.reset()

    def destroy(self) -> None:
        """``__qdisc_destroy``: reset first, then the policy's destroy, then free leftovers."""
        self.reset()
        if self.fault is None:
            self._call("destroy", self.ops.destroy, self.ctx)
        self.watchdog.cancel()
        for child in self.children.values():
            child.destroy()
        for skb in self.storage.release_all() + self.head.release_all():
            self._drop_owned(skb, DROP_RESET)

    def _new_frame(self, name: str) -> Frame:
        frame = Frame(self.kind, name, self, KFUNCS.allowed_for(IFACE, FRAMED_CALLBACKS[name]))
        self._frames[name] = frame
        return frame

    def _call(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        frame = self._frames.get(name)
        if frame is None:
            frame = self._new_frame(name)
        running = RUNNING
        outer = running.frame
        running.frame = frame
        try:
            result = fn(*args)
            if self._checked and frame.acquired:
                check_exit(frame)
        except (ExtensionFault, UserError, KernelError):
            raise
        except Exception as exc:
            raise ExtensionFault(self.kind, name, f"raised {type(exc).__name__}: {exc}") from exc
        finally:
            running.frame = outer
        return result

    def _call_quietly(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self._call(name, getattr(self.ops, name), self.ctx)

    # -- children and classification -------------------------------------------------
    def _make_child(self, minor: int, spec: str) -> Qdisc:
        if self._factory is None:
            raise UserError(f"qdisc {self.kind}: children need a qdisc created by create_qdisc")
        return self._factory(spec, self.dev, parent=TC_H_MAKE(self.handle, minor), parent_q=self)

    def create_child(self, minor: int, spec: str) -> Qdisc:
        """A child qdisc at class ``major:minor`` (the ``sch.create_child`` kfunc's body)."""
        old = self.children.get(minor)
        child = self._make_child(minor, spec)
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
            child = self._make_child(minor, spec)
        finally:
            running.frame = outer
        old = self.children.get(minor)
        self._install_child(minor, child)
        if old is not None:
            self._remove_child(old)
        return child

    def _remove_child(self, old: Qdisc) -> None:
        """Destroy a child no longer attached, its packets dropped and counted up the tree."""
        # Its reset drops leave every ancestor's counters as they happen (they walk
        # up the tree); reducing by its qlen first as well counted them twice.
        old.destroy()
        if old.qlen:  # whatever its policy did not free is gone with it
            self._reduce_tree(old.qlen, old.backlog)

    def _install_child(self, minor: int, child: Qdisc) -> None:
        self.children[minor] = child

        def replace(faulty: Qdisc, minor: int = minor) -> None:
            self.graft(minor, "pfifo")

        child.on_fault = replace

    def classify(self, skb: SkBuff) -> int:
        """Run this qdisc's tc filters: the classid, or 0."""
        return self.filters.classify(skb)

    def _filter_fault(self, chain: FilterChain, flt: Any, fault: ExtensionFault) -> None:
        """A filter program failed: its own fault, not this qdisc's that asked.

        Under ``contain`` the chain detaches the filter and the fault is listed
        with the run's faults; otherwise it stops the run, and this qdisc's
        trampoline passes it on unchanged.
        """
        if self.policy != POLICY_CONTAIN:
            raise fault
        world = getattr(self.dev, "world", None)
        if world is not None:
            world.faults.append((getattr(self.dev, "name", "?"), f"filter:{flt.label}", str(fault)))

    # -- reporting (the text and rows live in qdisclab.sched.report) ------------------
    def describe(self) -> str:
        """The ``tc qdisc show`` header line for this qdisc."""
        return report.describe(self)

    def stats_text(self) -> str:
        """``tc -s qdisc show`` for this qdisc and its children."""
        return report.stats_text(self)

    def stats(self) -> dict[str, Any]:
        """The qdisc's counters as a results row."""
        return report.stats_row(self)

    def walk(self) -> Iterator[Qdisc]:
        """This qdisc and every descendant, parents first."""
        yield self
        for minor in sorted(self.children):
            yield from self.children[minor].walk()

    def __repr__(self) -> str:
        return f"<Qdisc {self.kind} {format_handle(self.handle)} qlen={self.qlen}>"


_install_refusals()


def _random_stream(dev: Any, kind: str, handle: int) -> Random:
    """The stream of the run seed named by where a qdisc sits (``Qdisc.rng``)."""
    world = getattr(dev, "world", None)
    node = getattr(getattr(dev, "node", None), "name", "")
    name = f"qdisc:{kind}:{node}/{getattr(dev, 'name', '?')}:{format_handle(handle)}"
    if world is not None and hasattr(world, "rng"):
        stream: Random = world.rng.stream(name)
        return stream
    return Random(f"{getattr(dev, 'hash_seed', 0)}:{name}")
