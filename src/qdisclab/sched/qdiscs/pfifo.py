"""pfifo: packet-limited first-in first-out (net/sched/sch_fifo.c, tc/q_fifo.c).

``pfifo [limit PACKETS]``: the limit is read as tc reads it (``get_size``, so
``1k`` is 1024 packets and ``100p`` is refused); without one the kernel's
``fifo_init`` takes the device's ``txqueuelen``. ``limit 0`` is kept: every
packet is then dropped, as the kernel does (an empty fifo may be bypassed only
when its limit lets one packet in).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr

from qdisclab.sched.ops import HeadQueueOps
from qdisclab.sched.options import Args, TcParseError
from qdisclab.sched.registry import register_qdisc
from qdisclab.sched.tcutil import TcValueError, get_size, sprint_size

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff

FIFO_USAGE = "Usage: ... <[p|b]fifo | pfifo_head_drop> [ limit NUMBER ]"


@mypyc_attr(allow_interpreted_subclasses=True)  # a kind may be extended
class FifoBase(HeadQueueOps):
    """The fifo family: tail-drop over a packet limit (bfifo overrides the test with bytes).

    As sch_fifo.c, they queue on the qdisc's own queue (``sch->q``) and take
    the generic dequeue and reset (``HeadQueueOps``).
    """

    can_bypass = True  # as the kernel's fifos set it

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        """``fifo_parse_opt``: only ``limit`` (an exact keyword), read with ``get_size``."""
        args = Args(tokens, cls.id)
        opt: dict[str, Any] = {}
        while args:
            word = args.word()
            if word == "limit":
                value = args.value()
                try:
                    opt["limit"] = get_size(value)
                except TcValueError:
                    raise TcParseError(f'{cls.id}: Illegal value for "limit": "{value}"') from None
            elif word == "help":
                raise TcParseError(FIFO_USAGE)
            else:
                raise TcParseError(f'{cls.id}: unknown parameter "{word}"\n{FIFO_USAGE}')
        return opt

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        return f"limit {opt['limit']}p" if "limit" in opt else ""

    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        self.tc_change(sch, opt)

    def tc_change(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        """``fifo_init`` is also the fifos' change: a new limit, the queue kept as it is.

        A lowered limit drops nothing already queued; it refuses packets until
        the queue has drained below it.
        """
        limit = opt.get("limit")
        sch.limit = limit if limit is not None else self.default_limit(sch)
        opt["limit"] = sch.limit

    def default_limit(self, sch: QdiscContext) -> int:
        return max(sch.dev.tx_queue_len, 1)

    def may_bypass(self, sch: QdiscContext) -> bool:
        """fifo_init: the mechanism may bypass an empty queue only if one packet fits."""
        return sch.limit >= 1

    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        if sch.qlen >= sch.limit:
            return sch.drop(skb, to_free)
        return sch.enqueue_tail(skb)

    def destroy(self, sch: QdiscContext) -> None:
        pass


@mypyc_attr(allow_interpreted_subclasses=True)  # a kind may be extended
class Pfifo(FifoBase):
    """``pfifo [limit PACKETS]``."""

    id = "pfifo"


register_qdisc(Pfifo)


__all__ = ["FIFO_USAGE", "FifoBase", "Pfifo", "sprint_size"]
