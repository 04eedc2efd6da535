"""``u32``: iproute2's f_u32.c parser and printer over net/sched/cls_u32.c's handles.

A u32 filter is a list of 32-bit keys (value/mask at an offset into the IPv4
header; tc merges keys at the same offset, as ``pack_key`` does, so ``sport``
and ``dport`` share the word at 20). Each priority holds one u32 instance
whose root hash table is ``800:`` for the first instance of a qdisc and
``801:``, ``802:`` ... after (``gen_new_htid``, cyclic); a node is
``HT::NODE`` with the lowest free node id from ``800`` (``gen_new_kid``), and
the nodes of a table are kept, and tried, in node id order.

>>> keys = parse_u32_words(["match", "ip", "sport", "80", "0xffff", "match", "ip", "dport", "80", "0xffff"])
>>> [(hex(k.val), hex(k.mask), k.off) for k in keys.keys]
[('0x500050', '0xffffffff', 20)]
"""

from __future__ import annotations

import errno
from typing import Any

from qdisclab.net.tc.json_out import Obj, c_hex
from qdisclab.sched.handle import parse_tc_classid, sprint_tc_classid
from qdisclab.sched.options import INCOMPLETE, KernelRefusal, TcParseError

U32_USAGE = (
    "Usage: ... u32 [ match SELECTOR ... ] [ link HTID ] [ classid CLASSID ]\n"
    "               [ action ACTION_SPEC ] [ offset OFFSET_SPEC ]\n"
    "               [ ht HTID ] [ hashkey HASHKEY_SPEC ]\n"
    "               [ sample SAMPLE ] [skip_hw | skip_sw]\n"
    "or         u32 divisor DIVISOR\n"
    "\n"
    "Where: SELECTOR := SAMPLE SAMPLE ...\n"
    "       SAMPLE := { ip | ip6 | udp | tcp | icmp | u{32|16|8} | mark }\n"
    "                 SAMPLE_ARGS [ divisor DIVISOR ]\n"
    "       FILTERID := X:Y:Z\n"
    "\n"
    "NOTE: CLASSID is parsed at hexadecimal input."
)
TC_U32_ROOT = 0xFFF00000
_MAX_KEYS = 128
# match ip FIELD: (byte offset, width in bytes) as f_u32.c's parse_ip packs them.
_IP_FIELDS = {"tos": (1, 1), "dsfield": (1, 1), "precedence": (1, 1), "ihl": (0, 1),
              "protocol": (9, 1), "sport": (20, 2), "dport": (22, 2),
              "icmp_type": (20, 1), "icmp_code": (21, 1)}  # fmt: skip


class U32Key:
    """``struct tc_u32_key``: the 32-bit word at ``off`` must equal ``val`` under ``mask``."""

    __slots__ = ("mask", "off", "val")

    def __init__(self, val: int, mask: int, off: int) -> None:
        self.val, self.mask, self.off = val, mask, off


class U32Sel:
    """The selector of one node: its keys and a ``match mark VAL MASK``, if any."""

    __slots__ = ("keys", "mark")

    def __init__(self) -> None:
        self.keys: list[U32Key] = []
        self.mark: tuple[int, int] | None = None

    def pack(self, val: int, mask: int, off: int) -> None:
        """``pack_key``: merge into the key at the same offset, or add one; conflicts refused."""
        val &= mask
        for key in self.keys:
            if key.off == off:
                if (val ^ key.val) & mask & key.mask:
                    raise ValueError("conflicting keys")
                key.val |= val
                key.mask |= mask
                return
        if len(self.keys) >= _MAX_KEYS or off % 4:
            raise ValueError("too many keys")
        self.keys.append(U32Key(val, mask, off))


def _get_u32(text: str, base: int) -> int:
    """``get_u32``: ``strtoul`` in ``base`` (0: ``0x`` hex, a leading 0 octal), whole word, u32."""
    digits = text.lower()
    if base == 0:
        if digits.startswith("0x"):
            base, digits = 16, digits[2:]
        elif digits.startswith("0") and len(digits) > 1:
            base, digits = 8, digits[1:]
        else:
            base = 10
    value = int(digits, base)  # ValueError: not a number
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(text)
    return value


def _pack_field(sel: U32Sel, words: list[str], i: int, off: int, width: int) -> int:
    """``parse_u8``/``parse_u16``: VALUE MASK (the mask in hex), placed in its 32-bit word."""
    if i + 1 >= len(words):
        raise ValueError("short")
    val, mask = _get_u32(words[i], 0), _get_u32(words[i + 1], 16)
    limit = 0xFF if width == 1 else 0xFFFF
    if val > limit or mask > limit:
        raise ValueError("too large")
    shift = (4 - width - off % 4) * 8
    sel.pack(val << shift, mask << shift, off & ~3)
    return i + 2


def _ipv4_prefix(text: str) -> tuple[int, int]:
    """``get_prefix_1``: ``A[.B[.C[.D]]][/LEN]`` (missing bytes 0, no length: /32) as value, mask."""
    addr_text, slash, length_text = text.partition("/")
    parts = addr_text.split(".")
    if not 1 <= len(parts) <= 4 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise ValueError(text)
    addr = 0
    for k, part in enumerate(parts):
        addr |= int(part) << (24 - 8 * k)
    length = int(length_text) if slash and length_text.isdigit() else (32 if not slash else -1)
    if not 0 <= length <= 32:
        raise ValueError(text)
    return addr, (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0


def _parse_ip(sel: U32Sel, words: list[str], i: int) -> int:
    if i + 1 >= len(words):
        raise ValueError("short")
    field = words[i]
    if field in ("src", "dst"):
        addr, mask = _ipv4_prefix(words[i + 1])
        sel.pack(addr, mask, 12 if field == "src" else 16)
        return i + 2
    spec = _IP_FIELDS.get(field)
    for prefixed in ("dsfield", "precedence"):  # these two are matched as prefixes
        if spec is None and field and prefixed.startswith(field):
            spec = _IP_FIELDS[prefixed]
    if spec is None:
        raise ValueError(field)
    return _pack_field(sel, words, i + 1, *spec)


def parse_u32_words(words: list[str]) -> U32Sel:
    """The selector of ``match ip ... match mark ...`` (the matches qdisclab classifies on)."""
    return parse_u32(words)["sel"]


def parse_u32(words: list[str], handle: str = "") -> dict[str, Any]:
    """``u32_parse_opt``: ``{"sel", "classid", "order", "handle"}`` or tc's complaint (exit 1)."""
    out: dict[str, Any] = {"sel": U32Sel(), "classid": None, "order": 0, "sel_ok": False}
    if handle:
        out["handle"] = get_u32_handle(handle)
        if out["handle"] is None:
            raise TcParseError("Illegal filter ID")
    sel = out["sel"]
    i = 0
    while i < len(words):
        word = words[i]
        if "match".startswith(word):
            if i + 1 >= len(words):
                raise TcParseError(INCOMPLETE, 255)
            kind = words[i + 1]
            try:
                if "ip".startswith(kind):
                    i = _parse_ip(sel, words, i + 2)
                elif "mark".startswith(kind):
                    if i + 3 >= len(words):
                        raise TcParseError(INCOMPLETE, 255)
                    val, mask = _get_u32(words[i + 2], 0), _get_u32(words[i + 3], 0)
                    if val & mask != val:
                        raise TcParseError(
                            'Illegal "mark" (impossible combination)\nIllegal "match"'
                        )
                    sel.mark = (val, mask)
                    i += 4
                elif kind in ("tcp", "udp") and (
                    i + 2 >= len(words) or words[i + 2] not in ("src", "dst")
                ):
                    raise ValueError(kind)
                elif kind in ("u32", "u16", "u8", "ip6", "tcp", "udp", "icmp", "ether"):
                    raise TcParseError(
                        f'qdisclab: "match {kind}" is not modelled; u32 here matches "ip" fields '
                        '(src, dst, sport, dport, protocol, tos) and "mark"'
                    )
                else:
                    raise ValueError(kind)
            except ValueError:
                raise TcParseError('Illegal "match"') from None
            out["sel_ok"] = True
        elif "classid".startswith(word) or word == "flowid":
            if i + 1 >= len(words):
                raise TcParseError(INCOMPLETE, 255)
            try:
                out["classid"] = parse_tc_classid(words[i + 1], "invalid class ID")
            except TcParseError:
                raise TcParseError('Illegal "classid"') from None
            i += 2
        elif "order".startswith(word) and len(word) > 1:
            if i + 1 >= len(words):
                raise TcParseError(INCOMPLETE, 255)
            try:
                out["order"] = _get_u32(words[i + 1], 0)
            except ValueError:
                raise TcParseError('Illegal "order"') from None
            i += 2
        elif word == "help":
            raise TcParseError(U32_USAGE)
        else:
            raise TcParseError(f'What is "{word}"?\n{U32_USAGE}')
    if out["order"]:
        node = out.get("handle", 0) & 0xFFF
        if node and node != out["order"]:
            raise TcParseError('"order" contradicts "handle"')
        out["handle"] = out.get("handle", 0) | out["order"]
    return out


def get_u32_handle(text: str) -> int | None:
    """``get_u32_handle``: ``HT:BKT:NODE`` (each part hex, each may be empty), or ``0x...``."""
    if ":" not in text:
        if text.startswith("0x"):
            try:
                value = int(text, 16)
            except ValueError:
                return None
            return value if value <= 0xFFFFFFFF else None
        return None
    parts = text.split(":")
    if len(parts) > 3:
        return None
    limits = (0x1000, 0x100, 0x1000)
    values = []
    for part, limit in zip(parts, limits, strict=False):
        try:
            value = int(part, 16) if part else 0
        except ValueError:
            return None
        if not 0 <= value < limit:
            return None
        values.append(value)
    values += [0] * (3 - len(values))
    return (values[0] << 20) | (values[1] << 12) | values[2]


def sprint_u32_handle(handle: int) -> str:
    """``sprint_u32_handle``: ``800:``, ``800::801``."""
    htid, bkt, node = handle >> 20, (handle >> 12) & 0xFF, handle & 0xFFF
    text = ""
    if htid:
        text = f"{htid:x}:"
        if bkt:
            text += f"{bkt:x}"
        if node:
            text += f":{node:x}"
    return text


class U32Node:
    """``struct tc_u_knode``: one filter (its handle, selector, class) and its classifier."""

    __slots__ = ("classid", "handle", "keys", "mark", "sel")

    def __init__(self, handle: int, sel: U32Sel, classid: int | None) -> None:
        self.handle = handle
        self.sel = sel
        self.classid = classid
        self.keys = tuple((k.off, k.val, k.mask) for k in sel.keys)
        self.mark = sel.mark

    def __call__(self, skb: Any) -> int:
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


def _word(skb: Any, off: int) -> int:
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
