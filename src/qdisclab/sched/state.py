"""``QdiscState``: the typed fields of a qdisc instance, declared once.

``Qdisc`` is built by single inheritance, one job per class (state, then
accounting, containment, the generic peek, then the instance with its
lifecycle), so each piece reads only fields declared here and a type checker
or compiler follows every attribute a packet touches. ``QdiscDevice`` is what
the qdisc layer needs of the device it sits on (``qdisclab.net`` provides it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from mypy_extensions import mypyc_attr

if TYPE_CHECKING:
    from random import Random

    from qdisclab.ops import Frame, Storage
    from qdisclab.sched.accounting import SojournLog
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.filters import FilterChain
    from qdisclab.sched.headq import QdiscSkbHead
    from qdisclab.sched.ops import QdiscOps, ToFree
    from qdisclab.sched.qdisc import Qdisc, QdiscFactory
    from qdisclab.sched.watchdog import QdiscWatchdog
    from qdisclab.sim import RealtimeScheduler, Scheduler
    from qdisclab.sim.tracepoint import ProbeSiteProxy, Tracepoint
    from qdisclab.skb import SkBuff


class QdiscDevice(Protocol):
    """What a qdisc reads of its device (``qdisc_dev(sch)``); optional extras are read with getattr."""

    @property
    def sched(self) -> Scheduler | RealtimeScheduler:
        """The event scheduler the device runs on (its clock, the watchdog's timer)."""

    @property
    def name(self) -> str:
        """The device name."""

    @property
    def mtu(self) -> int:
        """The device MTU (``psched_mtu``)."""

    @property
    def tx_queue_len(self) -> int:
        """txqueuelen (the default fifo limit)."""

    def netif_schedule(self) -> None:
        """``__netif_schedule``: run the device's dequeue loop again (the watchdog's expiry)."""


@mypyc_attr(allow_interpreted_subclasses=True)  # as Qdisc, built on it
class QdiscState:
    """The fields of a ``Qdisc``; see ``qdisc.Qdisc`` for what each means."""

    __slots__ = (
        "_checked",
        "_entering",
        "_factory",
        "_frames",
        "_gso_skb",
        "_parking",
        "_policy_dequeue",
        "_probe_site",
        "_rng",
        "_to_free",
        "backlog",
        "bypass",
        "bypass_unwatched",
        "bytes",
        "can_bypass",
        "children",
        "ctx",
        "dequeue",
        "dev",
        "drop_reasons",
        "drops",
        "enqueue",
        "fault",
        "filters",
        "handle",
        "hash_seed",
        "head",
        "kind",
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
        "sojourn",
        "spec",
        "storage",
        "tp_dequeue",
        "tp_drop",
        "tp_enqueue",
        "tp_requeue",
        "watchdog",
    )

    # identity and place in the tree
    kind: str
    spec: str
    dev: QdiscDevice
    sched: Scheduler | RealtimeScheduler  # the simulated clock, or the wall clock of a live run
    handle: int
    parent: int
    parent_q: Qdisc | None
    children: dict[int, Qdisc]
    filters: FilterChain
    _factory: QdiscFactory | None
    # the policy and what it receives
    ops: QdiscOps
    ctx: QdiscContext
    opt: dict[str, Any]
    policy: str
    _checked: bool
    _frames: dict[str, Frame]
    _to_free: ToFree
    storage: Storage
    head: QdiscSkbHead  # sch->q: the queue of the mechanism's own (the fifos queue on it)
    _rng: Random | None  # made on first use (``Qdisc.rng``)
    hash_seed: int
    watchdog: QdiscWatchdog
    # the datapath (closures built by trampoline.bind_trampolines)
    enqueue: Callable[[SkBuff], int]
    dequeue: Callable[[], SkBuff | None]  # _policy_dequeue, or _dequeue_parked while parked
    _policy_dequeue: Callable[[], SkBuff | None]
    bypass: Callable[[SkBuff], None]
    # no tracepoint watches a bypass: past a plain wire the device counts it sent itself
    # (and notes its sojourn of 0 in ``sojourn``, the log, when one is kept)
    bypass_unwatched: bool
    can_bypass: bool
    _gso_skb: SkBuff | None
    _entering: SkBuff | None
    _parking: bool
    # counters (tc -s)
    qlen: int
    backlog: int
    drops: int
    overlimits: int
    requeues: int
    bytes: int
    packets: int
    drop_reasons: dict[str, int]
    # faults and probes
    fault: str | None
    on_fault: Callable[[Qdisc], None] | None
    sojourn: SojournLog | None
    _probe_site: ProbeSiteProxy[Qdisc]  # stands for it in its tracepoints' (weak) site sets
    tp_enqueue: Tracepoint[...]
    tp_dequeue: Tracepoint[...]
    tp_drop: Tracepoint[...]
    tp_requeue: Tracepoint[...]
