"""``tc class show`` for htb: the class lines and statistics as q_htb.c prints them.

>>> from qdisclab.net.tc import TcHost
>>> h = TcHost(); _ = h.run("ip link add dev d0 type dummy")
>>> _ = h.run("tc qdisc add dev d0 root handle 1: htb default 20")
>>> _ = h.run("tc class add dev d0 parent 1: classid 1:10 htb rate 2mbit ceil 6mbit")
>>> for line in h.run("tc -s class show dev d0").stdout.splitlines():
...     print(line.rstrip())
class htb 1:10 root prio 0 rate 2Mbit ceil 6Mbit burst 1600b cburst 1599b
 Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0)
 backlog 0b 0p requeues 0
 lended: 0 borrowed: 0 giants: 0
 tokens: 100000 ctokens: 33328
<BLANKLINE>
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from qdisclab.sched.handle import format_handle
from qdisclab.sched.ratecfg import LINKLAYER_ETHERNET, LINKLAYER_NAMES
from qdisclab.sched.tcutil import (
    calc_xmitsize,
    ns_to_ticks,
    sprint_rate,
    sprint_size,
)

if TYPE_CHECKING:
    from qdisclab.sched.htb_class import HtbClass

_INITIAL_HASH_SIZE = 4  # qdisc_class_hash_init


def _hash(classid: int, mask: int) -> int:
    """``qdisc_class_hash``."""
    classid ^= classid >> 8
    classid ^= classid >> 4
    return classid & mask


class ClassHash:
    """``struct Qdisc_class_hash``: the order ``tc class show`` lists classes in.

    Buckets are lists with the newest first (``hlist_add_head``); past 3/4 full
    the table doubles and re-adds every class bucket by bucket, as
    ``qdisc_class_hash_grow`` does (which reverses each chain).
    """

    __slots__ = ("buckets", "count")

    def __init__(self) -> None:
        self.buckets: list[list[HtbClass]] = [[] for _ in range(_INITIAL_HASH_SIZE)]
        self.count = 0

    def insert(self, cl: HtbClass) -> None:
        self.buckets[_hash(cl.classid, len(self.buckets) - 1)].insert(0, cl)
        self.count += 1
        if self.count * 4 > len(self.buckets) * 3:
            old = self.buckets
            self.buckets = [[] for _ in range(2 * len(old))]
            for chain in old:
                for c in chain:
                    self.buckets[_hash(c.classid, len(self.buckets) - 1)].insert(0, c)

    def remove(self, cl: HtbClass) -> None:
        self.buckets[_hash(cl.classid, len(self.buckets) - 1)].remove(cl)
        self.count -= 1

    def __iter__(self) -> Iterator[HtbClass]:
        for chain in self.buckets:
            yield from chain


def render_class(cl: Any, htb: Any, stats: bool, details: bool) -> str:
    """One class: ``class htb 1:10 parent 1:1 prio 0 rate ... `` and, with -s, its counters."""
    where = f"parent {format_handle(cl.parent.classid)} " if cl.parent else "root "
    leaf = ""
    if cl.leaf is not None and cl.leaf.handle:
        leaf = f"leaf {cl.leaf.handle >> 16:x}: "
    text = f"class htb {format_handle(cl.classid)} {where}{leaf}"
    if not cl.level:
        text += f"prio {cl.prio} "
        if details:
            text += f"quantum {cl.quantum} "
    text += f"rate {sprint_rate(cl.rate // 8)} "
    if cl.spec.overhead:
        text += f"overhead {cl.spec.overhead} "
    text += f"ceil {sprint_rate(cl.ceil // 8)} "
    if details or cl.spec.linklayer != LINKLAYER_ETHERNET:
        text += f"linklayer {LINKLAYER_NAMES[cl.spec.linklayer]} "
    burst = sprint_size(calc_xmitsize(cl.rate // 8, ns_to_ticks(cl.buffer)))
    cburst = sprint_size(calc_xmitsize(cl.ceil // 8, ns_to_ticks(cl.cbuffer)))
    mpu = f"/1 mpu {sprint_size(cl.spec.mpu)}" if details else ""
    text += f"burst {burst}{mpu} cburst {cburst}{mpu} "
    if details:
        text += f"level {cl.level} "
    if not stats:
        return text
    leaves = _leaves(cl)
    sent_bytes = sum(leaf.leaf.bytes for leaf in leaves if leaf.leaf is not None)
    sent_pkts = sum(leaf.leaf.packets for leaf in leaves if leaf.leaf is not None)
    backlog = cl.leaf.backlog if cl.leaf is not None else 0
    qlen = cl.leaf.qlen if cl.leaf is not None else 0
    return "\n".join([
        text,
        f" Sent {sent_bytes} bytes {sent_pkts} pkt (dropped {cl.drops}, overlimits "
        f"{cl.overlimits} requeues 0) ",
        f" backlog {sprint_size(backlog)} {qlen}p requeues 0",
        f" lended: {cl.lends} borrowed: {cl.borrows} giants: 0",
        f" tokens: {ns_to_ticks(cl.tokens)} ctokens: {ns_to_ticks(cl.ctokens)}",
        "",
    ])  # fmt: skip


def _leaves(cl: Any) -> list[Any]:
    if not cl.children:
        return [cl]
    return [leaf for child in cl.children for leaf in _leaves(child)]
