"""forged_dequeue: dequeue returns the head skb while it is still in the list.

Mirrors the generic return-value selftests ``struct_ops_kptr_return_fail__*``
(bpf-qdisc spec §3.2 rule 4): dequeue may return only a referenced skb it
owns; a pointer it does not hold a reference to is refused. ``qdisclab check``
reports an ownership violation: "dequeue returned an skb it does not own
(still queued or forged)".
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps


class ForgedDequeue(QdiscOps):
    id = "ex_forged"

    def init(self, sch, opt):
        self.q = SkbList()

    def enqueue(self, skb, sch, to_free):
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.peek_front()  # bug: peeked, not popped: the list still owns it

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass
