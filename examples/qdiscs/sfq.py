"""sfq: stochastic fairness queueing with a periodic rehash (``perturb``), as a user writes it.

Packets are hashed into ``flows`` buckets by their flow hash mixed with a
perturbation drawn from ``sch.random_u32()`` (``bpf_get_prandom_u32``: a
stream of the run seed, so a run is reproducible per seed). Buckets are
served round-robin with a byte deficit of ``quantum`` (DRR). Every
``perturb`` the perturbation changes and every queued packet moves to the
bucket of its new hash: the old lists are left behind empty and unreachable,
and the infrastructure releases them (a collection's lifetime), so however
long the run, the qdisc holds a bounded number of lists. Over ``limit``
packets the newcomer is dropped.

Check it::

    qdisclab check examples/qdiscs/sfq.py --options "limit 20 perturb 10ms"

>>> from qdisclab.sched import QDISC_OPS
>>> QDISC_OPS.validate(Sfq)
"""

from collections import deque

from qdisclab.ops import SkbList
from qdisclab.sched import NET_XMIT_SUCCESS, Opt, QdiscOps


class Sfq(QdiscOps):
    id = "sfq_rehash"
    options = {
        "limit": Opt("count", 127, "packets queued at most"),
        "flows": Opt("int", 128, "hash buckets"),
        "quantum": Opt("size", 1514, "bytes a bucket may send per round"),
        "perturb": Opt("time", 0, "rehash period (0: never)"),
    }

    def init(self, sch, opt):
        sch.limit = opt.get("limit") or 127
        self.nbuckets = opt.get("flows") or 128
        self.quantum = opt.get("quantum") or 1514
        self.perturb = opt.get("perturb") or 0
        self.perturbation = sch.random_u32()
        self.perturbations = [self.perturbation]  # for inspection: the draws of this run
        self.next_perturb = sch.now + self.perturb
        self.buckets = {}  # bucket -> SkbList
        self.deficit = {}
        self.active = deque()  # buckets with packets, in service order

    def bucket_of(self, skb, sch):
        return ((sch.skb_get_hash(skb) ^ self.perturbation) * 0x9E3779B1 >> 7) % self.nbuckets

    def maybe_rehash(self, sch):
        if not self.perturb or sch.now < self.next_perturb:
            return
        self.next_perturb = sch.now + self.perturb
        self.perturbation = sch.random_u32()
        self.perturbations.append(self.perturbation)
        old, order = self.buckets, list(self.active)
        self.buckets, self.deficit, self.active = {}, {}, deque()
        for b in order:
            q = old[b]
            while (skb := q.pop_front()) is not None:
                self.add(skb, sch)

    def add(self, skb, sch):
        b = self.bucket_of(skb, sch)
        q = self.buckets.get(b)
        if q is None:
            q = self.buckets[b] = SkbList()
        if not q:
            self.active.append(b)
            self.deficit[b] = self.quantum
        q.push_back(skb)

    def enqueue(self, skb, sch, to_free):
        self.maybe_rehash(sch)
        if sch.q.qlen >= sch.limit:
            return sch.drop(skb, to_free)
        self.add(skb, sch)
        return NET_XMIT_SUCCESS

    def dequeue(self, sch):
        self.maybe_rehash(sch)
        while self.active:
            b = self.active[0]
            q = self.buckets[b]
            head = q.peek_front()
            if self.deficit[b] < head.len:
                self.deficit[b] += self.quantum
                self.active.rotate(-1)
                continue
            skb = q.pop_front()
            self.deficit[b] -= skb.len
            if not q:
                self.active.popleft()
                del self.buckets[b]  # empty and now unreachable: released
            return skb
        return None

    def reset(self, sch):
        for q in self.buckets.values():
            while (skb := q.pop_front()) is not None:
                sch.kfree_skb(skb)
        self.buckets.clear()
        self.active.clear()

    def destroy(self, sch):
        pass
