"""iproute2's f_u32.c parser: ``match ip FIELD VALUE MASK`` words into 32-bit keys, and handles.

tc merges keys at the same offset (``pack_key``), so ``sport`` and ``dport``
share the word at 20; a value is masked before it is packed.

>>> keys = parse_u32_words(["match", "ip", "sport", "80", "0xffff", "match", "ip", "dport", "80", "0xffff"])
>>> [(hex(k.val), hex(k.mask), k.off) for k in keys.keys]
[('0x500050', '0xffffffff', 20)]
>>> hex(get_u32_handle("800::801")), sprint_u32_handle(0x80000801)
('0x80000801', '800::801')
"""

from __future__ import annotations

from typing import Any

from qdisclab.sched.handle import filter_classid
from qdisclab.sched.options import INCOMPLETE, TcParseError

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
    sel: U32Sel = parse_u32(words)["sel"]
    return sel


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
            out["classid"] = filter_classid(words, i)
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
