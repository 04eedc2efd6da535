"""success_after_drop: over its limit the fifo drops the packet but still says it was queued.

``sch.drop`` returns ``NET_XMIT_DROP`` for the caller to pass on; returning
``NET_XMIT_SUCCESS`` instead makes the sender count a lost packet as queued.
The trampoline checks enqueue's return code against what happened to the skb,
and ``qdisclab check`` reports an accounting finding: "enqueue returned
NET_XMIT_SUCCESS but dropped the skb".
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps


class SuccessAfterDrop(QdiscOps):
    id = "succ_after_drop"

    def init(self, sch, opt):
        self.q = SkbList()
        sch.limit = 4

    def enqueue(self, skb, sch, to_free):
        if sch.q.qlen >= sch.limit:
            sch.drop(skb, to_free)  # the code it returns is thrown away
            return NET_XMIT_SUCCESS
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass
