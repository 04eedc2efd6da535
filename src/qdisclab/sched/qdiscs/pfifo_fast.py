"""pfifo_fast: three-band strict-priority fifo, Linux's default qdisc (net/sched/sch_generic.c).

``skb.priority & TC_PRIO_MAX`` picks a band through the fixed priomap
``1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1``; band 0 is always served before band 1,
band 1 before band 2. The limit is the device's ``txqueuelen`` packets over
all bands together (the classic, pre-skb_array kernel behaviour). It has no
options, as in tc.

>>> from qdisclab.sched.qdiscs.pfifo_fast import PRIO2BAND
>>> PRIO2BAND[7], PRIO2BAND[0], PRIO2BAND[2]
(0, 1, 2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr

from qdisclab.ops import SkbList
from qdisclab.sched.constants import NET_XMIT_SUCCESS, TC_PRIO_MAX
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.options import TcParseError
from qdisclab.sched.qdiscs.prio import render_priomap
from qdisclab.sched.registry import register_qdisc

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff

PFIFO_FAST_BANDS = 3
# prio2band of sch_generic.c: TC_PRIO_* -> band (0 = highest priority).
PRIO2BAND = (1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)


@mypyc_attr(allow_interpreted_subclasses=True)  # a kind may be extended
class PfifoFast(QdiscOps):
    """``pfifo_fast`` (no options)."""

    id = "pfifo_fast"
    options = {}
    can_bypass = True  # TCQ_F_CAN_BYPASS

    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        self.bands = (SkbList(), SkbList(), SkbList())
        sch.limit = max(sch.dev.tx_queue_len, 1)

    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        if sch.qlen >= sch.limit:
            return sch.drop(skb, to_free)
        self.bands[PRIO2BAND[skb.priority & TC_PRIO_MAX]].push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch: QdiscContext) -> SkBuff | None:
        for band in self.bands:
            if band:
                return band.pop_front()
        return None

    def reset(self, sch: QdiscContext) -> None:
        for band in self.bands:
            while (skb := band.pop_front()) is not None:
                sch.kfree_skb(skb)

    def destroy(self, sch: QdiscContext) -> None:
        pass

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        """tc has no parser for pfifo_fast: any option is refused (exit 255)."""
        if tokens:
            raise TcParseError(f"qdisc '{cls.id}' does not support option parsing", 255)
        return {}

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        return render_priomap(PFIFO_FAST_BANDS, PRIO2BAND)


register_qdisc(PfifoFast)
