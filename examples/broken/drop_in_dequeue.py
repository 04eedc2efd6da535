"""drop_in_dequeue: dequeue drops stale packets with ``sch.drop`` (enqueue-only kfunc).

Mirrors the kfunc filter of the bpf-qdisc spec §2 (``bpf_qdisc_kfunc_filter``):
``bpf_qdisc_skb_drop`` is in the enqueue allow-set only, and calling it from
dequeue fails verification with "calling kernel function ... is not allowed".
``qdisclab check`` reports a kfunc finding: "sch.drop() (kfunc
bpf_qdisc_skb_drop) is allowed only in enqueue, not in dequeue; in dequeue use
sch.kfree_skb()".
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps


class DropInDequeue(QdiscOps):
    id = "ex_dropdq"

    def init(self, sch, opt):
        self.q = SkbList()

    def enqueue(self, skb, sch, to_free):
        self.q.push_back(skb)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        skb = self.q.pop_front()
        if skb is not None and skb.len < 100:
            return sch.drop(skb, None) and None  # bug: drop is for enqueue only
        return skb

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass
