"""edf: earliest-deadline-first scheduling on an rbtree, written against qdisclab's Qdisc_ops.

Each packet gets a deadline when it arrives: its EDT timestamp if the sender
set one (``skb.tstamp``), else ``now + budget[priority]``, where the budget of
each ``skb.priority`` band (0..7) is a delay target: control traffic (7) must
leave within 1 ms, bulk (1, 2) within 100 ms, best effort (0) within 20 ms.
Dequeue always sends the packet with the earliest deadline. Work-conserving:
a packet whose deadline has passed is still sent (late is better than lost),
and the tree never holds back a packet. Over ``limit`` packets the newcomer
is dropped unless its deadline is earlier than the latest one queued, in
which case the latest-deadline packet is dropped instead (``bpf_kfree_skb``).

Check it, then use it in a scenario (see README.md)::

    qdisclab check examples/qdiscs/edf.py

>>> from qdisclab.sched import QDISC_OPS
>>> QDISC_OPS.validate(Edf)
"""

from qdisclab.ops import SkbRbTree
from qdisclab.sched import NET_XMIT_CN, NET_XMIT_SUCCESS, Opt, QdiscOps

MS = 1_000_000
# Per-priority delay budget in ns (index: skb.priority & 7).
BUDGET = (20 * MS, 100 * MS, 100 * MS, 20 * MS, 10 * MS, 10 * MS, 2 * MS, 1 * MS)


class Edf(QdiscOps):
    id = "edf"
    options = {"limit": Opt("int", 1000, "packets queued at most")}

    def init(self, sch, opt):
        self.tree = SkbRbTree()  # key: (deadline, arrival) -> skb
        self.key_of = {}  # skb -> its deadline (a BPF hash map keyed by skb, in spirit)
        sch.limit = opt.get("limit") or 1000

    def deadline(self, skb, now):
        if skb.tstamp:
            return skb.tstamp
        return now + BUDGET[skb.priority & 7]

    def enqueue(self, skb, sch, to_free):
        deadline = self.deadline(skb, sch.now)
        if sch.q.qlen >= sch.limit:
            victim = self.latest_skb()
            if victim is None or self.key_of[victim] <= deadline:
                return sch.drop(skb, to_free)
            self.tree.remove(victim)
            del self.key_of[victim]
            sch.kfree_skb(victim)
            self.add(deadline, skb)
            return NET_XMIT_CN
        self.add(deadline, skb)
        return NET_XMIT_SUCCESS

    def add(self, deadline, skb):
        self.tree.add(deadline, skb)
        self.key_of[skb] = deadline

    def latest_skb(self):
        if not self.key_of:
            return None
        return max(self.key_of, key=self.key_of.__getitem__)

    def dequeue(self, sch):
        skb = self.tree.pop_first()
        if skb is not None:
            del self.key_of[skb]
        return skb

    def reset(self, sch):
        while (skb := self.tree.pop_first()) is not None:
            sch.kfree_skb(skb)
        self.key_of.clear()

    def destroy(self, sch):
        pass
