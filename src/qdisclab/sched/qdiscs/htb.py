"""htb: the Hierarchical Token Bucket (net/sched/sch_htb.c), on the public classful kfuncs.

``htb [default MINOR] [r2q N] [direct_qlen N] class ID [parent ID] rate R [ceil C]
[burst B] [cburst B] [prio P] [quantum Q] [leaf "SPEC"] ...`` — see
``qdisclab.sched.htb_class`` for the class options and their defaults.

What the kernel does, and so does this:

* classification (``htb_classify``): ``skb.priority`` equal to the qdisc
  handle -> direct queue; equal to a leaf class id -> that leaf; otherwise the
  filters (``sch.tc_classify``); otherwise the ``default`` class; if that
  does not exist (or is not a leaf) -> the direct queue (limit
  ``direct_qlen``, default txqueuelen, at least 2), which is served first and
  unshaped;
* each class has a rate and a ceil bucket in ns; a class is CAN_SEND (rate
  tokens left), MAY_BORROW (out of rate tokens, ceil tokens left) or
  CANT_SEND. A backlogged leaf is served at the level of its nearest ancestor
  (itself included) in CAN_SEND, reached through MAY_BORROW classes only;
  leaves sending on their own rate (level 0) go first, then borrowing from
  the closest ancestors; within a level the lowest ``prio`` first, and DRR by
  ``quantum`` among equals (``htb_dequeue_tree``);
* a sent packet is charged to the leaf and every ancestor
  (``htb_charge_class``): ceil tokens always, rate tokens at and below the
  lending level; classes leaving CAN_SEND wait in an event queue keyed by the
  time their mode improves; with nothing sendable the watchdog is armed at
  the earliest such time (no polling); each change into CANT_SEND counts an
  overlimit on the class and the qdisc.

Simplification: DRR order within one (level, prio) is by class id over all
eligible leaves, where the kernel keeps a round-robin pointer per inner
class; shares between equal-prio siblings are the same, ordering inside one
round may differ. Class filters (filters attached to inner classes) do not
exist here; an inner class id selected by ``skb.priority`` or a filter falls
through to the default class, as the kernel does when that class has none.

>>> from qdisclab.net import World
>>> w = World(); dev = w.new_device(w.add_host("A"))
>>> q = create_qdisc("htb default 10 class 1:1 rate 10mbit class 1:10 parent 1:1 rate 5mbit", dev)
>>> for line in q.ops.class_show(details=False).splitlines():
...     print(line.rstrip())
class htb 8001:10 parent 8001:1 prio 0 rate 5Mbit ceil 5Mbit burst 1600b cburst 1600b
class htb 8001:1 root rate 10Mbit ceil 10Mbit burst 1600b cburst 1600b
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from qdisclab.errors import UserError
from qdisclab.ops import SkbList
from qdisclab.sched.constants import NET_XMIT_DROP, NET_XMIT_SUCCESS, TC_H_MAKE
from qdisclab.sched.handle import format_handle
from qdisclab.sched.htb_class import (
    HTB_CAN_SEND,
    HTB_CANT_SEND,
    HTB_MAY_BORROW,
    MBUFFER,
    TC_HTB_MAXDEPTH,
    HtbClass,
    HtbClassSpec,
    parse_htb_options,
)
from qdisclab.sched.htb_report import ClassHash
from qdisclab.sched.htb_tc import HtbTcClasses
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.registry import create_qdisc, register_qdisc  # noqa: F401  (doctest)

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff

__all__ = ["Htb", "HtbClassSpec"]


class Htb(HtbTcClasses, QdiscOps):
    """``htb``: hierarchical link sharing with rate/ceil per class."""

    id = "htb"

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        return parse_htb_options(tokens)

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        """``htb_print_opt``'s start; ``render_live`` adds the counters that follow."""
        if "r2q" not in opt:
            return ""
        default = opt.get("default", 0)
        return (
            f"r2q {opt['r2q']} default {default:#x}" if default else f"r2q {opt['r2q']} default 0"
        )

    def render_live(self, details: bool = False) -> str:
        ver = " ver 3.17" if details else ""  # the TCA_HTB_INIT version tc -d shows
        return f" direct_packets_stat {self.direct_pkts}{ver} direct_qlen {self.direct_qlen}"

    # -- setup -------------------------------------------------------------------
    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        r2q = int(opt.setdefault("r2q", 10))
        if r2q <= 0:
            raise UserError("qdisc htb: r2q must be positive")
        self.defcls = int(opt.setdefault("default", 0))
        direct_qlen = opt.get("direct_qlen")
        if direct_qlen is None:
            direct_qlen = max(sch.dev.tx_queue_len, 2)  # htb_init: at least 2
        opt["direct_qlen"] = self.direct_qlen = int(direct_qlen)
        self.direct = SkbList()
        self.direct_pkts = 0
        self.handle = sch.handle
        self.classes: dict[int, HtbClass] = {}  # full classid -> class
        self.r2q = r2q
        self.class_hash = ClassHash()  # the order tc lists classes in
        specs = list(opt.setdefault("classes", []))
        for spec in specs:
            if not isinstance(spec, HtbClassSpec):
                raise UserError(f"qdisc htb: classes must be HtbClassSpec objects, got {spec!r}")
            classid = TC_H_MAKE(sch.handle, spec.minor)
            if classid in self.classes:
                raise UserError(f"qdisc htb: class {format_handle(classid)} defined twice")
            parent = None
            if spec.parent_minor:
                parent = self.classes.get(TC_H_MAKE(sch.handle, spec.parent_minor))
                if parent is None:
                    raise UserError(
                        f"qdisc htb: class {format_handle(classid)}: parent "
                        f"{format_handle(TC_H_MAKE(sch.handle, spec.parent_minor))} must be "
                        "defined before it"
                    )
            cl = HtbClass(spec, classid, parent, r2q)
            if parent is not None:
                parent.children.append(cl)
            cl.t_c = sch.now
            self.classes[classid] = cl
            self.class_hash.insert(cl)
        for cl in self.classes.values():
            depth, p = 0, cl.parent
            while p is not None:
                depth, p = depth + 1, p.parent
            if cl.children:
                # Inner classes: roots at TC_HTB_MAXDEPTH-1, one level less per generation.
                cl.level = TC_HTB_MAXDEPTH - 1 - depth
                if cl.level < 1:
                    raise UserError(f"qdisc htb: class {format_handle(cl.classid)}: tree too deep")
        # Leaves get their qdisc (in class id order, so automatic handles are stable).
        self.leaves = sorted((c for c in self.classes.values() if not c.children),
                             key=lambda c: c.minor)  # fmt: skip
        for cl in self.leaves:
            cl.leaf = sch.create_child(cl.minor, cl.spec.leaf)
        self.active: list[HtbClass] = []  # backlogged leaves, by minor
        self.events: list[tuple[int, int, HtbClass]] = []  # (pq_key, seq, class), lazy removal
        self.seq = 0
        self.rr: dict[tuple[int, int], int] = {}  # (level, prio) -> minor served next

    # -- enqueue -----------------------------------------------------------------------
    def classify(self, skb: SkBuff, sch: QdiscContext) -> HtbClass | None:
        """``htb_classify``: a leaf class, or None for the direct queue."""
        handle = self.handle
        prio = skb.priority
        if prio == handle:
            return None
        classes = self.classes
        cl = classes.get(prio)
        if cl is not None:
            if cl.level == 0:
                return cl
        else:
            classid = sch.tc_classify(skb)
            if classid:
                if classid == handle:
                    return None
                cl = classes.get(classid)
                if cl is not None and cl.level == 0:
                    return cl
        cl = classes.get(TC_H_MAKE(handle, self.defcls))
        if cl is None or cl.level:
            return None
        return cl

    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        cl = self.classify(skb, sch)
        if cl is None:
            if len(self.direct) < self.direct_qlen:
                self.direct.push_back(skb)
                self.direct_pkts += 1
                return NET_XMIT_SUCCESS
            return sch.drop(skb, to_free)
        ret = sch.enqueue_child(skb, cl.leaf, to_free)
        if ret & 0x0F == NET_XMIT_DROP:
            cl.drops += 1
            return ret
        if cl not in self.active:  # htb_activate
            self.active.append(cl)
            self.active.sort(key=_by_minor)
        return ret

    # -- dequeue -----------------------------------------------------------------------
    def dequeue(self, sch: QdiscContext) -> SkBuff | None:
        skb = self.direct.pop_front()
        if skb is not None:
            return skb
        if not self.active:
            return None
        now = sch.now
        events = self.events
        if events and events[0][0] <= now:
            self.do_events(now, sch)
        # Eligible leaves: (level they are served at, prio, leaf).
        best: tuple[int, int] | None = None
        group: list[HtbClass] = []
        rest: list[tuple[int, int, HtbClass]] = []
        for cl in list(self.active):
            if not cl.leaf.q.qlen:  # emptied behind our back (child reset, head drop)
                self.active.remove(cl)
                continue
            lender: HtbClass | None = cl
            while lender is not None and lender.cmode == HTB_MAY_BORROW:
                lender = lender.parent
                if lender is None:
                    break
            if lender is None or lender.cmode != HTB_CAN_SEND:
                continue
            key = (lender.level, cl.prio)
            if best is None or key < best:
                if best is not None:
                    rest.extend((best[0], best[1], c) for c in group)
                best, group = key, [cl]
            elif key == best:
                group.append(cl)
            else:
                rest.append((key[0], key[1], cl))
        while best is not None:
            level = best[0]
            start = self.rr.get(best, 0)
            order = [c for c in group if c.minor >= start] + [c for c in group if c.minor < start]
            for cl in order:
                skb = sch.dequeue_child(cl.leaf)
                if skb is None:  # a non-work-conserving leaf: try the next one
                    self.rr[best] = cl.minor + 1
                    continue
                length = skb.len
                deficit = cl.deficit
                deficit[level] -= length
                if deficit[level] < 0:
                    deficit[level] += cl.quantum
                    self.rr[best] = cl.minor + 1
                else:
                    self.rr[best] = cl.minor
                if not cl.leaf.q.qlen:
                    self.active.remove(cl)  # htb_deactivate
                self.charge(cl, level, length, now, sch)
                return skb
            if not rest:
                break
            rest.sort(key=_by_key)
            best = rest[0][:2]
            group = [c for lv, pr, c in rest if (lv, pr) == best]
            rest = [r for r in rest if (r[0], r[1]) != best]
        # Nothing sendable now: wake at the earliest mode change (htb_dequeue's watchdog).
        next_event = self.next_event()
        if next_event is not None:
            sch.watchdog_schedule(max(next_event, now + 1))
        return None

    def charge(
        self, cl: HtbClass | None, level: int, nbytes: int, now: int, sch: QdiscContext
    ) -> None:
        """``htb_charge_class``: pay for ``nbytes`` sent by a leaf served at ``level``."""
        while cl is not None:
            diff = now - cl.t_c
            if diff > MBUFFER:
                diff = MBUFFER
            if cl.level >= level:
                if cl.level == level:
                    cl.lends += 1
                cl.accnt_tokens(nbytes, diff)
            else:
                cl.borrows += 1
                cl.tokens += diff  # we moved t_c; the rate bucket keeps its credit
            cl.accnt_ctokens(nbytes, diff)
            cl.t_c = now
            old = cl.cmode
            delay = self.change_mode(cl, 0, sch)
            if old != cl.cmode:
                if old != HTB_CAN_SEND:
                    cl.pq_key = None  # leaves the wait queue (lazy removal)
                if cl.cmode != HTB_CAN_SEND:
                    self.add_to_wait(cl, delay, now)
            cl = cl.parent

    def change_mode(self, cl: HtbClass, diff: int, sch: QdiscContext) -> int:
        """``htb_change_class_mode``; returns the ns until the mode can improve."""
        new_mode, delay = cl.mode(diff)
        if new_mode != cl.cmode:
            if new_mode == HTB_CANT_SEND:
                cl.overlimits += 1
                sch.overlimits += 1
            cl.cmode = new_mode
        return delay

    def add_to_wait(self, cl: HtbClass, delay: int, now: int) -> None:
        """``htb_add_to_wait_tree``: revisit ``cl`` when its mode may change."""
        key = now + delay
        if key == now:
            key += 1
        cl.pq_key = key
        self.seq += 1
        heappush(self.events, (key, self.seq, cl))

    def do_events(self, now: int, sch: QdiscContext) -> None:
        """``htb_do_events``: re-evaluate every class whose wait time has come."""
        events = self.events
        while events and events[0][0] <= now:
            key, _seq, cl = heappop(events)
            if cl.pq_key != key:
                continue  # stale entry
            cl.pq_key = None
            diff = now - cl.t_c
            if diff > MBUFFER:
                diff = MBUFFER
            delay = self.change_mode(cl, diff, sch)
            if cl.cmode != HTB_CAN_SEND:
                self.add_to_wait(cl, delay, now)

    def next_event(self) -> int | None:
        events = self.events
        while events and events[0][2].pq_key != events[0][0]:
            heappop(events)
        return events[0][0] if events else None

    # -- lifecycle -----------------------------------------------------------------------
    def reset(self, sch: QdiscContext) -> None:
        # htb_reset: modes back to CAN_SEND, wait queues and activity cleared, the direct
        # queue freed; tokens are kept. Leaf qdiscs are reset by the infrastructure next.
        for cl in self.classes.values():
            cl.cmode = HTB_CAN_SEND
            cl.pq_key = None
        self.events.clear()
        self.active.clear()
        while (skb := self.direct.pop_front()) is not None:
            sch.kfree_skb(skb)

    def destroy(self, sch: QdiscContext) -> None:
        pass


register_qdisc(Htb)


def _by_minor(cl: HtbClass) -> int:
    return cl.minor


def _by_key(item: tuple[int, int, HtbClass]) -> tuple[int, int, int]:
    return item[0], item[1], item[2].minor
