"""double_enqueue: enqueue pushes the same skb into its list twice.

Mirrors the verifier rule that a released reference cannot be used again
(bpf-qdisc spec §3.2 rules 2-3: after ``bpf_kptr_xchg`` moved the skb into a
node the register is invalid, "invalid mem access 'scalar'"). ``qdisclab
check`` reports an ownership violation: "push_back: skb is still queued in a
collection (double insertion?)".
"""

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, QdiscOps


class DoubleEnqueue(QdiscOps):
    id = "ex_double"

    def init(self, sch, opt):
        self.q = SkbList()

    def enqueue(self, skb, sch, to_free):
        self.q.push_back(skb)
        if skb.priority == 0:
            self.q.push_back(skb)  # bug: "retry" pushes it a second time
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        return self.q.pop_front()

    def reset(self, sch):
        while (skb := self.q.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch):
        pass
