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

from typing import TYPE_CHECKING, Any, ClassVar

from qdisclab.ops.struct_ops import StructOpsInterface, callback, members_of
from qdisclab.sched.constants import NET_XMIT_SUCCESS  # noqa: F401  (re-exported for doctest)
from qdisclab.sched.options import Opt, parse_options

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.skb import SkBuff


class ToFree:
    """The ``to_free`` argument of enqueue: a token only ``sch.drop`` accepts."""

    __slots__ = ()


class QdiscOps:
    """Base of every qdisc kind. Subclass, set ``id``, implement the five callbacks.

    ``sch`` in every callback is the narrow ``QdiscContext`` (its kfuncs and
    read-only views; ``help(QdiscContext)``). Class attributes a kind may set:
    ``id`` (the kind name, 1-15 chars of ``[A-Za-z0-9_.]``), ``options`` (a
    dict of ``Opt`` for tc-syntax parsing). The callbacks below marked
    *refused* are members of the kernel's ``Qdisc_ops`` that a BPF qdisc may
    not provide: defining one is ENOTSUPP.
    """

    id: ClassVar[str] = ""
    options: ClassVar[dict[str, Opt]] = {}
    # A kind verified when it loads (a compiled BPF qdisc): ``--policy off`` skips that
    # verification, and the run-time ownership checker then stays on for it instead.
    verified_at_load: ClassVar[bool] = False
    # TCQ_F_CAN_BYPASS: an empty queue on an idle device may be skipped (the fifos set it).
    can_bypass: ClassVar[bool] = False
    # Data members of Qdisc_ops that an extension must leave zero.
    priv_size: ClassVar[int] = 0
    static_flags: ClassVar[int] = 0
    cl_ops: ClassVar[Any] = None

    @callback(mandatory=True)
    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        """Take ``skb`` (owned by this call): queue it or drop it; return NET_XMIT_*.

        Must return ``NET_XMIT_SUCCESS``, ``NET_XMIT_DROP`` (this skb was
        dropped) or ``NET_XMIT_CN`` (queued, but a packet was dropped); the
        trampoline refuses anything else, naming the callback and the value.
        """
        raise NotImplementedError

    @callback(mandatory=True)
    def dequeue(self, sch: QdiscContext) -> SkBuff | None:
        """Return the next skb to send (one this call owns, e.g. popped), or None."""
        raise NotImplementedError

    @callback(mandatory=True)
    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> int | None:
        """Set up state on ``self`` from the parsed options; a negative errno fails creation."""
        raise NotImplementedError

    @callback(mandatory=True)
    def reset(self, sch: QdiscContext) -> None:
        """Free every queued skb (``sch.kfree_skb``); the infrastructure then zeroes qlen."""
        raise NotImplementedError

    @callback(mandatory=True)
    def destroy(self, sch: QdiscContext) -> None:
        """Release resources (runs after reset); leftovers in collections are freed."""
        raise NotImplementedError

    @callback(supported=False)
    def peek(self, sch: QdiscContext) -> SkBuff | None:
        """Refused: the generic ``qdisc_peek_dequeued`` is forced."""

    @callback(supported=False)
    def change(self, sch: QdiscContext, opt: Any) -> int:
        """Refused: ``tc qdisc change`` with options is not supported for a BPF qdisc."""
        return 0

    @callback(supported=False)
    def attach(self, sch: QdiscContext) -> None:
        """Refused (no CFI stub in the kernel)."""

    @callback(supported=False)
    def change_tx_queue_len(self, sch: QdiscContext, qlen: int) -> int:
        """Refused (no CFI stub in the kernel)."""
        return 0

    @callback(supported=False)
    def change_real_num_tx(self, sch: QdiscContext, n: int) -> None:
        """Refused (no CFI stub in the kernel)."""

    @callback(supported=False)
    def dump(self, sch: QdiscContext, skb: Any) -> int:
        """Refused: ``tc qdisc show`` prints the generic header and the parsed options."""
        return 0

    @callback(supported=False)
    def dump_stats(self, sch: QdiscContext, d: Any) -> int:
        """Refused: statistics come from the infrastructure's counters."""
        return 0

    @callback(supported=False)
    def ingress_block_set(self, sch: QdiscContext, block: int) -> None:
        """Refused (no CFI stub in the kernel)."""

    @callback(supported=False)
    def ingress_block_get(self, sch: QdiscContext) -> int:
        """Refused (no CFI stub in the kernel)."""
        return 0

    @callback(supported=False)
    def egress_block_set(self, sch: QdiscContext, block: int) -> None:
        """Refused (no CFI stub in the kernel)."""

    @callback(supported=False)
    def egress_block_get(self, sch: QdiscContext) -> int:
        """Refused (no CFI stub in the kernel)."""
        return 0

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        """Turn tc-syntax option tokens into the ``opt`` dict given to ``init``."""
        return parse_options(cls.id, tokens, cls.options)

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        """The options part of a ``tc qdisc show`` line."""
        from qdisclab.sched.options import render_options

        return render_options(cls.options, opt)


def qdisc_dequeue_head(self: QdiscOps, sch: QdiscContext) -> SkBuff | None:
    """The generic dequeue of a kind queuing on ``sch->q``: ``dequeue = qdisc_dequeue_head``.

    As the kernel's fifos name ``qdisc_dequeue_head`` as their dequeue. The
    trampolines recognise it and run it as the mechanism's own code.
    """
    return sch.dequeue_head()


def qdisc_reset_queue(self: QdiscOps, sch: QdiscContext) -> None:
    """The generic reset of a kind queuing on ``sch->q``: ``reset = qdisc_reset_queue``."""
    sch.reset_queue()


class HeadQueueOps(QdiscOps):
    """Base of a kind that queues on the qdisc's own queue, with the generic dequeue and reset.

    As the kernel's fifos name ``qdisc_dequeue_head`` and ``qdisc_reset_queue``
    in their ops: a subclass writes ``init``, ``enqueue`` (``return
    sch.enqueue_tail(skb)`` to queue) and ``destroy``. (The same as writing
    ``dequeue = qdisc_dequeue_head`` in the class; the base keeps it a plain
    function where a compiled subclass inherits it.)
    """

    dequeue = qdisc_dequeue_head
    reset = qdisc_reset_queue


#: Every built-in kind and its module in ``qdisclab.sched.qdiscs``, which registers it when
#: imported: a run imports only the kinds it uses, while listings name them all.
BUILTIN_QDISCS: dict[str, str] = {
    "bfifo": "bfifo",
    "codel": "codel",
    "fq": "fq",
    "fq_codel": "fq_codel",
    "htb": "htb",
    "netem": "netem",
    "pfifo": "pfifo",
    "pfifo_fast": "pfifo_fast",
    "prio": "prio",
    "red": "red",
    "tbf": "tbf",
}
QDISCS_PACKAGE = "qdisclab.sched.qdiscs"

QDISC_OPS = StructOpsInterface(
    "Qdisc_ops",
    QdiscOps,
    members_of(QdiscOps, ("priv_size", "static_flags", "cl_ops")),
    builtin_modules={kind: f"{QDISCS_PACKAGE}.{m}" for kind, m in BUILTIN_QDISCS.items()},
)

IFACE = QDISC_OPS.name
