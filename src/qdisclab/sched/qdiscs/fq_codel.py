"""fq_codel: Fair Queuing with CoDel AQM (RFC 8290, net/sched/sch_fq_codel.c).

``fq_codel [limit PACKETS] [flows N] [quantum BYTES] [target TIME] [interval TIME]
[ecn|noecn] [ce_threshold TIME] [memory_limit BYTES] [drop_batch N]``; defaults
limit 10240, flows 1024, quantum 1514, target 5ms, interval 100ms, ecn,
memory_limit 32Mb, drop_batch 64 (the kernel's; quantum is the kernel's
``psched_mtu`` of an Ethernet device).

Packets hash into ``flows`` buckets (``reciprocal_scale(skb_get_hash, flows)``,
or ``skb.priority`` when its major equals the qdisc handle). A bucket that gets
a packet while idle joins the *new* list with a full quantum of deficit; new
flows are served before old ones (DRR over both), and each bucket runs its own
CoDel (``qdisclab.sched.codel_law``). On overflow the fattest bucket loses up
to half its backlog (at most ``drop_batch`` packets) from its head.
``memory_limit`` counts packet lengths (qdisclab has no ``truesize``).

>>> from qdisclab.sched.qdiscs.fq_codel import FqCodel
>>> opt = FqCodel.parse_options(["flows", "16", "noecn"])
>>> opt["flows"], opt["ecn"], opt["limit"]
(16, False, 10240)
"""

from __future__ import annotations

import errno
from collections import deque
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
)
from qdisclab.sched.constants import NET_XMIT_CN, NET_XMIT_SUCCESS
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.options import KernelRefusal, Opt, parse_options
from qdisclab.sched.registry import register_qdisc
from qdisclab.sched.tcutil import sprint_size
from qdisclab.skb import psched_mtu

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff

FQ_CODEL_USAGE = (
    "Usage: ... fq_codel   [ limit PACKETS ] [ flows NUMBER ]\n"
    "                      [ memory_limit BYTES ]\n"
    "                      [ target TIME ] [ interval TIME ]\n"
    "                      [ quantum BYTES ] [ [no]ecn ]\n"
    "                      [ ce_threshold TIME ]\n"
    "                      [ ce_threshold_selector VALUE/MASK ]\n"
    "                      [ drop_batch SIZE ]"
)

DROP_OVERLIMIT = "qdisc_overlimit"  # SKB_DROP_REASON_QDISC_OVERLIMIT


class FqCodelFlow:
    """``struct fq_codel_flow``: one bucket's queue, DRR deficit and CoDel state."""

    __slots__ = ("cvars", "deficit", "idx", "listed", "q")

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.q = SkbList()
        self.deficit = 0
        self.cvars = CodelVars()
        self.listed = False  # on the new or the old list (``!list_empty(&flow->flowchain)``)


@mypyc_attr(allow_interpreted_subclasses=True)  # a kind may be extended
class FqCodel(QdiscOps):
    """Flow-queueing with per-flow CoDel and new-flow priority."""

    id = "fq_codel"
    options = {
        "limit": Opt("count", 10240, "total queue limit in packets", zero_default=True),
        "flows": Opt("int", 1024, "number of flow buckets", zero_default=True),
        "quantum": Opt("int", 1514, "DRR quantum in bytes (psched_mtu)", zero_default=True),
        **codel_options(ecn=True),
        "memory_limit": Opt("size", 32 << 20, "limit on queued bytes", zero_default=True),
        "drop_batch": Opt("int", 64, "most packets dropped per overflow", zero_default=True),
    }

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        return parse_options(cls.id, tokens, cls.options, FQ_CODEL_USAGE)

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        """``fq_codel_print_opt``: ``limit 10240p flows 1024 quantum 1514 target 5ms ...``."""
        if "limit" not in opt:
            return ""
        text = f"limit {opt['limit']}p flows {opt['flows']} quantum {opt['quantum']} "
        text += render_codel_times(opt)
        text += f"memory_limit {sprint_size(opt['memory_limit'])} "
        text += "ecn " if opt["ecn"] else ""
        return text + f"drop_batch {opt['drop_batch']} "

    @staticmethod
    def tc_refuses_change(old: dict[str, Any], given: dict[str, Any]) -> bool:
        """fq_codel_change: the flow table cannot be resized once it exists."""
        return "flows" in given and given["flows"] != old.get("flows")

    def tc_xstats(self) -> str:
        """``fq_codel_print_xstats`` (TCA_FQ_CODEL_XSTATS_QDISC)."""
        st = self.cstats
        text = (
            f"  maxpacket {st.maxpacket} drop_overlimit {self.drop_overlimit} "
            f"new_flow_count {self.new_flow_count} ecn_mark {st.ecn_mark}"
        )
        if st.ce_mark:
            text += f" ce_mark {st.ce_mark}"
        if self.memory_usage:
            text += f" memory_used {self.memory_usage}"
        if self.drop_overmemory:
            text += f" drop_overmemory {self.drop_overmemory}"
        return text + f"\n  new_flows_len {len(self.new_flows)} old_flows_len {len(self.old_flows)}"

    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        self.memory_usage = 0
        self.tc_change(sch, opt)
        flows: int = opt["flows"]
        self.flows_cnt = flows
        self.major = sch.handle >> 16  # TC_H_MAJ, read per packet by classify
        self.cstats = CodelStats()
        self.flows = [FqCodelFlow(i) for i in range(flows)]
        self.backlogs = [0] * flows
        self.new_flows: deque[FqCodelFlow] = deque()
        self.old_flows: deque[FqCodelFlow] = deque()
        self.new_flow_count = 0
        self.drop_overlimit = 0
        self.drop_overmemory = 0

    def tc_change(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        """``fq_codel_change``: new parameters in place (the flow table stays as it is)."""
        flows = opt["flows"]
        # fq_codel_change: the kernel's own checks and clamps.
        if not 1 <= flows <= 65536:
            raise KernelRefusal(errno.EINVAL, hint=f"fq_codel: flows {flows} is outside 1..65536")
        if opt["quantum"] > 1 << 20:
            raise KernelRefusal(errno.EINVAL, "Invalid quantum")
        opt["quantum"] = max(256, opt["quantum"])
        opt["drop_batch"] = max(1, opt["drop_batch"])
        opt["memory_limit"] = min(1 << 31, opt["memory_limit"])
        sch.limit = opt["limit"]
        self.sch = sch  # the instance is this qdisc's private data: sch never changes
        self.quantum = opt["quantum"]
        self.drop_batch_size = opt["drop_batch"]
        self.memory_limit = opt["memory_limit"]
        self.cparams = CodelParams(
            opt["target"],
            opt["interval"],
            psched_mtu(sch.dev.mtu),
            opt["ecn"],
            opt.get("ce_threshold"),
        )

    def tc_over_limit(self, sch: QdiscContext) -> bool:
        """fq_codel_change dequeues (and frees) while either limit is exceeded."""
        return sch.q.qlen > sch.limit or self.memory_usage > self.memory_limit

    def classify(self, skb: SkBuff, sch: QdiscContext) -> int:
        """Bucket index 0..flows-1 (``fq_codel_classify`` without tc filters)."""
        prio = skb.priority
        if prio >> 16 == self.major and 0 < (prio & 0xFFFF) <= self.flows_cnt:
            return (prio & 0xFFFF) - 1
        return (sch.skb_get_hash(skb) * self.flows_cnt) >> 32  # reciprocal_scale

    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        idx = self.classify(skb, sch)
        skb.cb = sch.now >> CODEL_SHIFT  # codel_set_enqueue_time
        flow = self.flows[idx]
        flow.q.push_back(skb)
        length = skb.len
        self.backlogs[idx] += length
        if not flow.listed:
            flow.listed = True
            self.new_flows.append(flow)
            self.new_flow_count += 1
            flow.deficit = self.quantum
        self.memory_usage += length
        memory_limited = self.memory_usage > self.memory_limit
        # sch.qlen does not count this skb yet (it is counted when enqueue returns).
        if sch.q.qlen + 1 <= sch.limit and not memory_limited:
            return NET_XMIT_SUCCESS
        dropped_idx, count = self.drop(sch, to_free)
        self.drop_overlimit += count
        if memory_limited:
            self.drop_overmemory += count
        # A drop from this packet's own flow tells the sender: NET_XMIT_CN.
        return NET_XMIT_CN if dropped_idx == idx else NET_XMIT_SUCCESS

    def drop(self, sch: QdiscContext, to_free: ToFree) -> tuple[int, int]:
        """``fq_codel_drop``: drop up to half the fattest bucket's backlog from its head."""
        backlogs = self.backlogs
        maxbacklog = max(backlogs)
        idx = backlogs.index(maxbacklog)  # the first fattest, as the kernel's scan
        threshold = maxbacklog >> 1
        flow = self.flows[idx]
        q = flow.q
        dropped_len = 0
        i = 0
        while True:
            skb = q.pop_front()  # owned by this callback now, so it may be dropped
            if skb is None:  # the fattest flow holds the backlog: never empty here
                break
            dropped_len += skb.len
            sch.drop(skb, to_free, DROP_OVERLIMIT)
            i += 1
            if i >= self.drop_batch_size or dropped_len >= threshold:
                break
        flow.cvars.count += i  # tell CoDel to signal harder too
        backlogs[idx] -= dropped_len
        self.memory_usage -= dropped_len
        return idx, i

    def dequeue(self, sch: QdiscContext) -> SkBuff | None:
        new_flows, old_flows = self.new_flows, self.old_flows
        while True:
            head = new_flows if new_flows else old_flows
            if not head:
                return None
            flow = head[0]
            if flow.deficit <= 0:
                flow.deficit += self.quantum
                head.popleft()
                old_flows.append(flow)
                continue
            skb = codel_dequeue(self, flow, sch, self.cparams, flow.cvars, self.cstats)
            if skb is None:
                head.popleft()
                if head is new_flows and old_flows:
                    old_flows.append(flow)  # a pass through old_flows prevents starvation
                else:
                    flow.listed = False
                continue
            flow.deficit -= skb.len
            return skb

    # The two hooks the control law calls back (ctx is the flow).
    def codel_dequeue_skb(self, flow: FqCodelFlow) -> SkBuff | None:
        skb = flow.q.pop_front()
        if skb is not None:
            length = skb.len
            self.backlogs[flow.idx] -= length
            self.memory_usage -= length
        return skb

    def codel_drop(self, skb: SkBuff, flow: FqCodelFlow) -> None:
        self.sch.kfree_skb(skb, DROP_CODEL)

    def reset(self, sch: QdiscContext) -> None:
        for flow in self.flows:
            q = flow.q
            while (skb := q.pop_front()) is not None:
                sch.kfree_skb(skb)
            flow.cvars = CodelVars()
            flow.listed = False
            flow.deficit = 0
        self.new_flows.clear()
        self.old_flows.clear()
        self.backlogs = [0] * self.flows_cnt
        self.memory_usage = 0

    def destroy(self, sch: QdiscContext) -> None:
        pass


register_qdisc(FqCodel)
