"""pfifo: packet-limited first-in first-out (net/sched/sch_fifo.c).

Default limit: the device's ``txqueuelen`` (at least 1), as the kernel's
``fifo_init`` does when no limit is given.
"""

from __future__ import annotations

from typing import Any

from qdisclab.ops import SkbList
from qdisclab.sched.constants import NET_XMIT_SUCCESS
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.options import Opt
from qdisclab.sched.registry import register_qdisc


class FifoBase(QdiscOps):
    """The fifo family: tail-drop over a packet limit (bfifo overrides the test with bytes)."""

    options = {"limit": Opt("count", None, "queue limit (default: txqueuelen)")}
    can_bypass = True  # TCQ_F_CAN_BYPASS, as the kernel's fifos set it

    def init(self, sch: Any, opt: dict[str, Any]) -> None:
        self.q = SkbList()
        limit = opt.get("limit")
        sch.limit = limit if limit is not None else self.default_limit(sch)
        opt["limit"] = sch.limit

    def default_limit(self, sch: Any) -> int:
        return max(sch.dev.tx_queue_len, 1)

    def enqueue(self, skb: Any, sch: Any, to_free: Any) -> int:
        if sch.qlen >= sch.limit:
            return sch.drop(skb, to_free)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch: Any) -> Any:
        return self.q.pop_front()

    def reset(self, sch: Any) -> None:
        q = self.q
        while (skb := q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch: Any) -> None:
        pass


@register_qdisc
class Pfifo(FifoBase):
    """``pfifo [limit PACKETS]``."""

    id = "pfifo"
