"""bfifo: byte-limited first-in first-out (net/sched/sch_fifo.c).

Default limit: ``txqueuelen * psched_mtu`` bytes (the MTU plus the 14-byte
Ethernet header), as the kernel's ``fifo_init``; it prints as ``tc`` prints
sizes (``limit 1514000b``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr

from qdisclab.sched.qdiscs.pfifo import FifoBase
from qdisclab.sched.registry import register_qdisc
from qdisclab.sched.tcutil import sprint_size
from qdisclab.skb import psched_mtu

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff


@mypyc_attr(allow_interpreted_subclasses=True)  # a kind may be extended
class Bfifo(FifoBase):
    """``bfifo [limit BYTES]``."""

    id = "bfifo"

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        return f"limit {sprint_size(opt['limit'])}" if "limit" in opt else ""

    def default_limit(self, sch: QdiscContext) -> int:
        return max(sch.dev.tx_queue_len, 1) * psched_mtu(sch.dev.mtu)

    def may_bypass(self, sch: QdiscContext) -> bool:
        return sch.limit >= psched_mtu(sch.dev.mtu)

    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        if sch.backlog + skb.len > sch.limit:
            return sch.drop(skb, to_free)
        return sch.enqueue_tail(skb)


register_qdisc(Bfifo)
