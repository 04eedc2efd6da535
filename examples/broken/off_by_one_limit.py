"""off_by_one_limit: a fifo that tests its limit with ``>`` and so holds ``limit + 1`` packets.

pfifo drops once ``qlen >= limit``; this one drops only once ``qlen > limit``,
so at its default limit of 1000 it accepts packet 1001. Nothing faults and
every packet is accounted for: only a queue driven past its limit shows it.
``qdisclab check`` reports a limit finding: "qlen 1001 exceeds sch.limit
1000".
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, Opt, QdiscOps


class OffByOneLimit(QdiscOps):
    id = "ex_offbyone"
    options = {"limit": Opt("count", 1000, "packets queued at most")}

    def init(self, sch, opt):
        self.q = SkbList()
        sch.limit = opt.get("limit") or 1000

    def enqueue(self, skb, sch, to_free):
        if sch.qlen > sch.limit:  # bug: should be >=
            return sch.drop(skb, to_free)
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass
