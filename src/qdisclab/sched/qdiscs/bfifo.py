"""bfifo: byte-limited first-in first-out (net/sched/sch_fifo.c).

Default limit: ``txqueuelen * mtu`` bytes, as the kernel's ``fifo_init``.
"""

from __future__ import annotations

from typing import Any

from qdisclab.sched.constants import NET_XMIT_SUCCESS
from qdisclab.sched.options import Opt
from qdisclab.sched.qdiscs.pfifo import FifoBase
from qdisclab.sched.registry import register_qdisc


@register_qdisc
class Bfifo(FifoBase):
    """``bfifo [limit BYTES]``."""

    id = "bfifo"
    options = {"limit": Opt("size", None, "queue limit in bytes (default: txqueuelen * mtu)")}

    def default_limit(self, sch: Any) -> int:
        return max(sch.dev.tx_queue_len, 1) * sch.dev.mtu

    def enqueue(self, skb: Any, sch: Any, to_free: Any) -> int:
        if sch.backlog + skb.len > sch.limit:
            return sch.drop(skb, to_free)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS
