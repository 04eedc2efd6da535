"""``QdiscOps``: the base class users subclass to write a qdisc (``Qdisc_ops``).

The class is the ops table; each instance is one qdisc's private data, so
state lives on ``self``. Mandatory members are those of the kernel's BPF
qdisc: ``enqueue``, ``dequeue``, ``init``, ``reset``, ``destroy``; ``peek``
is generic (the infrastructure's), and members the kernel does not open to
BPF (``change``, ``attach``, ``dump`` ...) are refused with ENOTSUPP.

>>> from qdisclab.ops import SkbList
>>> class MyFifo(QdiscOps):
...     id = "my_fifo_doc"
...     def init(self, sch, opt):
...         self.q = SkbList(); sch.limit = opt.get("limit", 1000)
...     def enqueue(self, skb, sch, to_free):
...         if sch.q.qlen >= sch.limit:
...             return sch.drop(skb, to_free)
...         self.q.push_back(skb); return NET_XMIT_SUCCESS
...     def dequeue(self, sch):
...         return self.q.pop_front()
...     def reset(self, sch):
...         while (skb := self.q.pop_front()) is not None:
...             sch.kfree_skb(skb)
...     def destroy(self, sch):
...         pass
>>> QDISC_OPS.validate(MyFifo)
"""

from __future__ import annotations

from typing import Any, ClassVar

from qdisclab.ops import KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS, KFUNCS
from qdisclab.ops.struct_ops import Member, StructOpsInterface
from qdisclab.sched.constants import NET_XMIT_SUCCESS  # noqa: F401  (re-exported for doctest)
from qdisclab.sched.options import Opt, parse_options


class QdiscOps:
    """Base of every qdisc kind. Subclass, set ``id``, implement the five callbacks.

    Class attributes a kind may set:
    ``id`` (the kind name, 1-15 chars of ``[A-Za-z0-9_.]``), ``options`` (a
    dict of ``Opt`` for tc-syntax parsing).
    """

    id: ClassVar[str] = ""
    options: ClassVar[dict[str, Opt]] = {}
    # Data members of Qdisc_ops that an extension must leave zero.
    priv_size: ClassVar[int] = 0
    static_flags: ClassVar[int] = 0
    cl_ops: ClassVar[Any] = None

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        """Turn tc-syntax option tokens into the ``opt`` dict given to ``init``."""
        return parse_options(cls.id, tokens, cls.options)

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        """The options part of a ``tc qdisc show`` line."""
        from qdisclab.sched.options import render_options

        return render_options(cls.options, opt)


_MEMBERS = [
    Member("enqueue", mandatory=True, doc="enqueue(skb, sch, to_free) -> NET_XMIT_*"),
    Member("dequeue", mandatory=True, doc="dequeue(sch) -> owned skb or None"),
    Member("init", mandatory=True, doc="init(sch, opt): set up state on self"),
    Member("reset", mandatory=True, doc="reset(sch): free every queued skb"),
    Member("destroy", mandatory=True, doc="destroy(sch): release resources"),
    Member("peek", supported=False, doc="generic qdisc_peek_dequeued is forced"),
    Member("change", supported=False),
    Member("attach", supported=False),
    Member("change_tx_queue_len", supported=False),
    Member("change_real_num_tx", supported=False),
    Member("dump", supported=False),
    Member("dump_stats", supported=False),
    Member("ingress_block_set", supported=False),
    Member("ingress_block_get", supported=False),
    Member("egress_block_set", supported=False),
    Member("egress_block_get", supported=False),
    Member("priv_size", function=False),
    Member("static_flags", function=False),
    Member("cl_ops", function=False),
]

QDISC_OPS = StructOpsInterface("Qdisc_ops", QdiscOps, _MEMBERS)

IFACE = "Qdisc_ops"
ALL = {"enqueue", "dequeue", "init", "reset", "destroy"}

# The kfuncs of the qdisc layer and the callbacks that may call them. Names
# are the kernel's; the Python method each maps to is in the doc string.
KFUNCS.register(
    "bpf_qdisc_skb_drop", IFACE, {"enqueue"}, KF_RELEASE,
    "sch.drop(skb, to_free[, reason]): drop onto the deferred free list; counts a drop",
)  # fmt: skip
KFUNCS.register(
    "bpf_kfree_skb", IFACE, ALL, KF_RELEASE,
    "sch.kfree_skb(skb[, reason]): free an owned skb now; counts a drop",
)  # fmt: skip
KFUNCS.register(
    "bpf_qdisc_skb_clone", IFACE, {"enqueue"}, KF_ACQUIRE,
    "sch.skb_clone(skb) -> owned new skb, booked and counted in the qdisc (netem duplicate); qdisclab kfunc",
)  # fmt: skip
KFUNCS.register(
    "bpf_qdisc_watchdog_schedule", IFACE, {"enqueue", "dequeue"}, KF_TRUSTED_ARGS,
    "sch.watchdog_schedule(expire_ns, delta_ns=0): ask to be dequeued again at expire",
)  # fmt: skip
KFUNCS.register(
    "bpf_skb_get_hash", IFACE, ALL, KF_TRUSTED_ARGS,
    "sch.skb_get_hash(skb): the flow hash (computed once, cached in the skb)",
)  # fmt: skip
KFUNCS.register(
    "bpf_dynptr_from_skb", IFACE, ALL, KF_TRUSTED_ARGS,
    "sch.skb_data(skb): read-only view of the payload bytes (b'' when none)",
)  # fmt: skip
KFUNCS.register(
    "bpf_skb_ecn_set_ce", IFACE, {"enqueue", "dequeue"}, KF_TRUSTED_ARGS,
    "sch.set_ce(skb) -> bool: mark CE if ECN-capable (INET_ECN_set_ce); qdisclab kfunc",
)  # fmt: skip
KFUNCS.register(
    "bpf_qdisc_create_child", IFACE, {"init"}, KF_TRUSTED_ARGS,
    "sch.create_child(minor, spec) -> Qdisc: a child qdisc at class major:minor (RFC v8)",
)  # fmt: skip
KFUNCS.register(
    "bpf_qdisc_find_class", IFACE, ALL, KF_TRUSTED_ARGS | KF_RET_NULL,
    "sch.find_class(classid) -> child Qdisc or None (RFC v8)",
)  # fmt: skip
KFUNCS.register(
    "bpf_qdisc_enqueue", IFACE, {"enqueue"}, KF_RELEASE,
    "sch.enqueue_child(skb, child, to_free) -> NET_XMIT_*: hand an skb to a child (RFC v8)",
)  # fmt: skip
KFUNCS.register(
    "bpf_qdisc_dequeue", IFACE, {"dequeue"}, KF_ACQUIRE | KF_RET_NULL,
    "sch.dequeue_child(child) -> owned skb or None (RFC v8)",
)  # fmt: skip
KFUNCS.register(
    "bpf_qdisc_peek", IFACE, {"enqueue", "dequeue"}, KF_TRUSTED_ARGS | KF_RET_NULL,
    "sch.peek_child(child) -> skb (still the child's) or None; qdisclab kfunc",
)  # fmt: skip
KFUNCS.register(
    "bpf_skb_tc_classify", IFACE, {"enqueue"}, KF_TRUSTED_ARGS,
    "sch.tc_classify(skb[, qdisc]) -> classid or 0: run the tc filters of any qdisc (sch_bpf)",
)  # fmt: skip
KFUNCS.register(
    "bpf_ktime_get_ns", IFACE, ALL, 0,
    "sch.now: the current time in ns (a base helper, not a kfunc, in the kernel)",
)  # fmt: skip
