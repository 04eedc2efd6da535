"""``u32``: net/sched/cls_u32.c's tables and nodes, printed as f_u32.c prints them.

A u32 filter is a list of 32-bit keys (value/mask at an offset into the IPv4
header, see ``u32_parse``). Each priority holds one u32 instance
whose root hash table is ``800:`` for the first instance of a qdisc and
``801:``, ``802:`` ... after (``gen_new_htid``, cyclic); a node is
``HT::NODE`` with the lowest free node id from ``800`` (``gen_new_kid``), and
the nodes of a table are kept, and tried, in node id order.

>>> from qdisclab.net.tc.u32_parse import parse_u32
>>> node = U32Node(0x80000800, parse_u32(["match", "ip", "dport", "80", "0xffff"])["sel"], 0x10010)
>>> node.text()
'fh 800::800 order 2048 key ht 800 bkt 0 *flowid 1:10 not_in_hw \\n  match 00000050/0000ffff at 20'
"""

from __future__ import annotations

import errno
from typing import Any

from qdisclab.net.tc.json_out import Obj, c_hex
from qdisclab.net.tc.u32_parse import U32Key, U32Sel, sprint_u32_handle
from qdisclab.sched.handle import sprint_tc_classid
from qdisclab.sched.options import KernelRefusal
from qdisclab.skb import SkBuff

TC_U32_ROOT = 0xFFF00000  # a handle naming the instance's own root table


class U32Node:
    """``struct tc_u_knode``: one filter (its handle, selector, class) and its classifier."""

    __slots__ = ("classid", "handle", "keys", "mark", "sel")

    def __init__(self, handle: int, sel: U32Sel, classid: int | None) -> None:
        self.handle = handle
        self.sel = sel
        self.classid = classid
        self.keys = tuple((k.off, k.val, k.mask) for k in sel.keys)
        self.mark = sel.mark

    def __call__(self, skb: SkBuff) -> int:
        """``u32_classify`` over the header words qdisclab's packets carry."""
        for off, val, mask in self.keys:
            if (_word(skb, off) ^ val) & mask:
                return 0
        if self.mark is not None and skb.mark & self.mark[1] != self.mark[0]:
            return 0
        return self.classid or 0

    def text(self, pretty: bool = False) -> str:
        """``u32_print_opt`` for a node (tc's ``*flowid``: this kernel dumps no TERMINAL flag).

        ``pretty`` (``tc -p`` on a ``protocol ip`` filter) decodes the keys as print_ipv4 does.
        """
        out = f"fh {sprint_u32_handle(self.handle)} order {self.handle & 0xFFF} "
        out += f"key ht {self.handle >> 20:x} bkt {(self.handle >> 12) & 0xFF:x} "
        if self.classid is not None:
            out += f"*flowid {sprint_tc_classid(self.classid)} "
        out += "not_in_hw "
        if self.mark is not None:
            out += f"\n  mark 0x{self.mark[0]:04x} 0x{self.mark[1]:04x} (success 0)"
        for key in self.sel.keys:
            out += (
                _pretty_ipv4(key)
                if pretty
                else f"\n  match {key.val:08x}/{key.mask:08x} at {key.off}"
            )
        return out

    def json(self) -> Obj:
        out = Obj([("fh", sprint_u32_handle(self.handle)), ("order", self.handle & 0xFFF)])
        out.add("key_ht", f"{self.handle >> 20:x}").add("bkt", f"{(self.handle >> 12) & 0xFF:x}")
        if self.classid is not None:
            out.add("flowid", sprint_tc_classid(self.classid))
        out.add("not_in_hw", True)
        if self.mark is not None:
            out.add("fwmark_value", c_hex(self.mark[0])).add("fwmark_mask", c_hex(self.mark[1]))
            out.add("fwmark_success", 0)
        for key in self.sel.keys:
            match = Obj([("value", f"{key.val:x}"), ("mask", f"{key.mask:x}"), ("offmask", "")])
            out.add("match", match.add("off", key.off))
        return out


def _mask2bits(mask: int) -> int:
    """The prefix length of a contiguous mask, or -1."""
    bits = bin(mask).count("1")
    return bits if mask == ((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF if bits else 0) else -1


def _pretty_ipv4(key: U32Key) -> str:
    """``print_ipv4``: the fields tc names; a key it cannot name prints nothing."""
    val, mask, off = key.val, key.mask, key.off
    if off == 0 and mask == 0x0F000000:
        return f"\n  match IP ihl {val >> 24}"
    if off == 0 and mask == 0x00FF0000:
        return f"\n  match IP dsfield {c_hex(val >> 16)}"
    if off == 8 and mask == 0x00FF0000:
        return f"\n  match IP protocol {val >> 16}"
    if off in (12, 16) and _mask2bits(mask) >= 0:
        addr = ".".join(str((val >> s) & 0xFF) for s in (24, 16, 8, 0))
        return f"\n  match IP {'src' if off == 12 else 'dst'} {addr}/{_mask2bits(mask)}"
    if off == 20:
        if mask == 0x0000FFFF:
            return f"match dport {val & 0xFFFF}"  # tc prints this one on the node's line
        if mask == 0xFFFF0000:
            return f"\n  match sport {val >> 16}"
        if mask == 0xFFFFFFFF:
            return f"\n  match dport {val & 0xFFFF}, match sport {val >> 16}"
    return ""


def _word(skb: SkBuff, off: int) -> int:
    """The 32-bit word at ``off`` of the packet's IPv4 header (and ports after it)."""
    if off == 20:
        return (skb.sport << 16) | skb.dport
    if off == 16:
        return skb.dst
    if off == 12:
        return skb.src
    if off == 8:
        return (skb.ttl << 24) | (skb.protocol << 16)
    if off == 0:
        return 0x45000000 | (skb.ecn << 16) | ((skb.len - skb.mac_len) & 0xFFFF)
    return 0


class U32Common:
    """``struct tc_u_common``: what the u32 instances of one qdisc share (table ids)."""

    __slots__ = ("next_id", "tables")

    def __init__(self) -> None:
        self.tables: dict[int, int] = {}  # htid -> prio of the instance it is the root of
        self.next_id = 1

    def new_htid(self) -> int:
        """``gen_new_htid``: ``idr_alloc_cyclic`` over 1..0x7fe, as ``(id | 0x800) << 20``."""
        for step in range(0x7FE):
            ident = (self.next_id - 1 + step) % 0x7FE + 1
            htid = (ident | 0x800) << 20
            if htid not in self.tables:
                self.next_id = ident % 0x7FE + 1
                return htid
        raise KernelRefusal(errno.ENOMEM)


class U32:
    """One u32 instance (one priority): its root table and nodes in node id order."""

    kind = "u32"

    def __init__(self, common: U32Common | None, prio: int) -> None:
        self.common = common if common is not None else U32Common()
        self.htid = self.common.new_htid() if common is not None else 0x80000000
        self.common.tables[self.htid] = prio
        self.nodes: list[U32Node] = []

    def destroy(self) -> None:
        self.common.tables.pop(self.htid, None)

    def get(self, handle: int) -> Any:
        """``u32_get``: the root table (``HT:``), a node, or None."""
        htid = handle & 0xFFF00000
        if htid == TC_U32_ROOT:
            htid = self.htid
        if htid != self.htid:
            return None
        if not handle & 0xFFFFF:
            return self
        return next((n for n in self.nodes if n.handle == (htid | (handle & 0xFFFFF))), None)

    def change(self, existing: Any, handle: int, opts: dict[str, Any]) -> None:
        """``u32_change``: a new node, or a replaced one (the kernel keeps its selector)."""
        if existing is self:
            raise KernelRefusal(errno.EINVAL, "cls_u32: Link (hash table) changes not supported")
        if existing is not None:
            existing.classid = opts["classid"] if opts["classid"] is not None else existing.classid
            return
        htid = self.htid
        if handle:
            if handle & 0xFFF00000 and (handle ^ htid) & 0xFFF00000:
                raise KernelRefusal(
                    errno.EINVAL, "cls_u32: Handle specified hash table address mismatch"
                )
            handle = htid | (handle & 0xFFF)  # the bucket is the table's (divisor 1)
        else:
            used = {n.handle & 0xFFF for n in self.nodes}
            node = next((k for k in range(0x800, 0x1000) if k not in used), None)
            if node is None:
                raise KernelRefusal(errno.ENOMEM)
            handle = htid | node
        if not opts["sel_ok"]:
            raise KernelRefusal(errno.EINVAL, "cls_u32: Selector not specified")
        self.nodes.append(U32Node(handle, opts["sel"], opts["classid"]))
        self.nodes.sort(key=lambda n: n.handle & 0xFFF)

    def delete(self, found: Any) -> None:
        if found is self:
            raise KernelRefusal(errno.EINVAL, "cls_u32: Not allowed to delete root node")
        self.nodes.remove(found)

    def last(self) -> bool:
        """``u32_delete``'s ``last``: the qdisc's only u32 instance, with no node left."""
        return len(self.common.tables) == 1 and not self.nodes

    def dump(self, pretty: bool = False) -> list[tuple[Any, str, Obj]]:
        """``u32_walk``: the table, then each node (element, text, JSON options)."""
        table = Obj([("fh", sprint_u32_handle(self.htid)), ("ht_divisor", 1)])
        rows: list[tuple[Any, str, Obj]] = [
            (self, f"fh {sprint_u32_handle(self.htid)} ht divisor 1 ", table)
        ]
        return rows + [(n, n.text(pretty), n.json()) for n in self.nodes]

    def programs(self) -> list[tuple[int | None, Any]]:
        """The datapath's view: one classifier per node, in the order the kernel tries them."""
        return [(n.classid, n) for n in self.nodes]
