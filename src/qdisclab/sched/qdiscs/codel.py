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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr

from qdisclab.ops import SkbList
from qdisclab.sched.codel_law import (
    CODEL_SHIFT,
    DROP_CODEL,
    CodelParams,
    CodelStats,
    CodelVars,
    codel_dequeue,
    codel_options,
    render_codel_times,
    vars_xstats,
)
from qdisclab.sched.constants import NET_XMIT_SUCCESS
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.options import Opt, parse_options
from qdisclab.sched.registry import register_qdisc
from qdisclab.skb import psched_mtu

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff

CODEL_USAGE = (
    "Usage: ... codel [ limit PACKETS ] [ target TIME ]\n"
    "                 [ interval TIME ] [ ecn | noecn ]\n"
    "                 [ ce_threshold TIME ]"
)


@mypyc_attr(allow_interpreted_subclasses=True)  # a kind may be extended
class Codel(QdiscOps):
    """One FIFO under the CoDel control law."""

    id = "codel"
    options = {
        "limit": Opt("count", 1000, "queue limit in packets", zero_default=True),
        **codel_options(ecn=False),
    }

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        return parse_options(cls.id, tokens, cls.options, CODEL_USAGE)

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        """``codel_print_opt``: ``limit 1000p target 5ms interval 100ms [ecn ]``."""
        if "limit" not in opt:
            return ""
        return f"limit {opt['limit']}p " + render_codel_times(opt) + ("ecn " if opt["ecn"] else "")

    def tc_xstats(self) -> str:
        """``codel_print_xstats``."""
        st = self.stats
        text = f"  {vars_xstats(self.vars, self.now())}\n"
        text += f"  maxpacket {st.maxpacket} ecn_mark {st.ecn_mark} drop_overlimit {self.drop_overlimit}"
        if st.ce_mark:
            text += f" ce_mark {st.ce_mark}"
        return text

    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        self.q = SkbList()
        self.tc_change(sch, opt)
        self.vars = CodelVars()
        self.stats = CodelStats()
        self.drop_overlimit = 0
        self.now: Callable[[], int] = lambda: (
            sch.now
        )  # for the statistics dump (drop_next is relative)

    def tc_change(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        """``codel_change``: new parameters; a lowered limit drops from the head down to it."""
        sch.limit = opt["limit"]
        self.params = CodelParams(
            opt["target"],
            opt["interval"],
            psched_mtu(sch.dev.mtu),
            opt["ecn"],
            opt.get("ce_threshold"),
        )
        q = self.q
        while sch.q.qlen > sch.limit and (skb := q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        if sch.q.qlen < sch.limit:
            skb.cb = sch.now >> CODEL_SHIFT  # codel_set_enqueue_time
            self.q.push_back(skb)
            return NET_XMIT_SUCCESS
        self.drop_overlimit += 1
        return sch.drop(skb, to_free)

    def dequeue(self, sch: QdiscContext) -> SkBuff | None:
        return codel_dequeue(self, sch, sch, self.params, self.vars, self.stats)

    # The two hooks the control law calls back.
    def codel_dequeue_skb(self, sch: QdiscContext) -> SkBuff | None:
        return self.q.pop_front()

    def codel_drop(self, skb: SkBuff, sch: QdiscContext) -> None:
        sch.kfree_skb(skb, DROP_CODEL)

    def reset(self, sch: QdiscContext) -> None:
        q = self.q
        while (skb := q.pop_front()) is not None:
            sch.kfree_skb(skb)
        self.vars = CodelVars()

    def destroy(self, sch: QdiscContext) -> None:
        pass


register_qdisc(Codel)
