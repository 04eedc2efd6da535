"""codel: Controlled Delay AQM (RFC 8289, net/sched/sch_codel.c).

``codel [limit PACKETS] [target TIME] [interval TIME] [ecn|noecn] [ce_threshold TIME]``;
defaults limit 1000, target 5ms, interval 100ms, noecn (the kernel's). A tail
drop happens only at ``limit``; the control law (``qdisclab.sched.codel_law``)
drops or ECN-marks at the head, in dequeue.

>>> from qdisclab.sched.qdiscs.codel import Codel
>>> Codel.parse_options(["target", "2ms", "ecn"])["target"]
2000000
"""

from __future__ import annotations

from typing import Any

from qdisclab.ops import SkbList
from qdisclab.sched.codel_law import (
    CODEL_SHIFT,
    DROP_CODEL,
    CodelParams,
    CodelStats,
    CodelVars,
    codel_dequeue,
    codel_options,
)
from qdisclab.sched.constants import NET_XMIT_SUCCESS
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.options import Opt
from qdisclab.sched.registry import register_qdisc


@register_qdisc
class Codel(QdiscOps):
    """One FIFO under the CoDel control law."""

    id = "codel"
    options = {"limit": Opt("count", 1000, "queue limit in packets"), **codel_options(ecn=False)}

    def init(self, sch: Any, opt: dict[str, Any]) -> None:
        self.q = SkbList()
        sch.limit = opt["limit"]
        self.params = CodelParams(
            opt["target"], opt["interval"], sch.mtu, opt["ecn"], opt.get("ce_threshold")
        )
        self.vars = CodelVars()
        self.stats = CodelStats()
        self.drop_overlimit = 0

    def enqueue(self, skb: Any, sch: Any, to_free: Any) -> int:
        if sch.q.qlen < sch.limit:
            skb.cb = sch.now >> CODEL_SHIFT  # codel_set_enqueue_time
            self.q.push_back(skb)
            return NET_XMIT_SUCCESS
        self.drop_overlimit += 1
        return sch.drop(skb, to_free)

    def dequeue(self, sch: Any) -> Any:
        return codel_dequeue(self, sch, sch, self.params, self.vars, self.stats)

    # The two hooks the control law calls back.
    def codel_dequeue_skb(self, sch: Any) -> Any:
        return self.q.pop_front()

    def codel_drop(self, skb: Any, sch: Any) -> None:
        sch.kfree_skb(skb, DROP_CODEL)

    def reset(self, sch: Any) -> None:
        q = self.q
        while (skb := q.pop_front()) is not None:
            sch.kfree_skb(skb)
        self.vars = CodelVars()

    def destroy(self, sch: Any) -> None:
        pass
