"""``tc -j``: iproute2's JSON, byte for byte (lib/json_writer.c's layout, ``-p`` included).

iproute2 writes JSON as it prints text, key by key, so an object may hold a
key twice (tbf ``-d`` has two ``mpu``; a u32 node one ``match`` per key): an
object here is an ``Obj``, a list of ``(key, value)`` pairs, not a dict.

>>> dumps([Obj([("kind", "pfifo"), ("options", Obj([("limit", 1000)]))])])
'[{"kind":"pfifo","options":{"limit":1000}}]\\n'
>>> print(dumps([Obj([("kind", "noqueue"), ("options", Obj())])], pretty=True), end="")
[ {
        "kind": "noqueue",
        "options": {}
    } ]
"""

from __future__ import annotations

import json
from typing import Any

from qdisclab.sched.constants import TC_H_INGRESS, TC_H_ROOT
from qdisclab.sched.handle import format_handle
from qdisclab.sched.report import device_name, qdisc_handle


class Obj(list[tuple[str, Any]]):
    """A JSON object as iproute2 writes it: ordered ``(key, value)`` pairs, keys may repeat."""

    def add(self, key: str, value: Any) -> Obj:
        self.append((key, value))
        return self


def c_hex(value: int) -> str:
    """C's ``%#llx``: ``0x20``, but ``0`` for zero (``print_0xhex``'s JSON string)."""
    return f"{value:#x}" if value else "0"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return f"{value:g}"  # jsonw_float: "%g"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


class _Writer:
    """json_writer.c: separators, indentation and the odd spaces of ``-p`` kept as it writes them."""

    def __init__(self, pretty: bool) -> None:
        self.pretty = pretty
        self.out: list[str] = []
        self.depth = 0
        self.sep = ""

    def _eol(self) -> None:
        if self.pretty:
            self.out.append("\n" + "    " * self.depth)

    def _eor(self) -> None:
        if self.sep:
            self.out.append(self.sep)
        self.sep = ","

    def _begin(self, char: str) -> None:
        self._eor()
        self.out.append(char)
        self.depth += 1
        self.sep = ""

    def _end(self, char: str) -> None:
        self.depth -= 1
        if self.sep:
            self._eol()
        self.out.append(char)
        self.sep = ","

    def name(self, key: str) -> None:
        self._eor()
        self._eol()
        self.sep = ""
        self.out.append(json.dumps(key, ensure_ascii=False) + (": " if self.pretty else ":"))

    def value(self, value: Any) -> None:
        if isinstance(value, Obj):
            self._begin("{")
            for key, item in value:
                self.name(key)
                self.value(item)
            self._end("}")
        elif isinstance(value, list):
            self._begin("[")
            if self.pretty:
                self.out.append(" ")
            for item in value:
                self.value(item)
            if self.pretty and self.sep:
                self.out.append(" ")
            self.sep = ""
            self._end("]")
        else:
            self._eor()
            self.out.append(_scalar(value))


def dumps(items: list[Any], pretty: bool = False) -> str:
    """The top-level array tc prints (``jsonw_destroy`` ends it with a newline)."""
    writer = _Writer(pretty)
    writer.value(list(items))
    return "".join(writer.out) + "\n"


def dump_json(items: list[Any], flags: Any) -> str:
    return dumps(items, pretty=flags is not None and flags.pretty)


def stats_json(obj: Obj, q: Any) -> None:
    """``print_tcstats2_attr``'s keys: what ``tc -s -j`` adds to a qdisc or class object."""
    obj.add("bytes", q.bytes).add("packets", q.packets).add("drops", q.drops)
    obj.add("overlimits", q.overlimits).add("requeues", q.requeues)
    obj.add("backlog", q.backlog).add("qlen", q.qlen)


def qdisc_json(q: Any, flags: Any, show_dev: bool = True) -> Obj:
    """One qdisc as ``tc [-s] [-d] -j qdisc show`` prints it (``print_qdisc``)."""
    from qdisclab.net.tc.json_kinds import kind_options, kind_xstats

    out = Obj([("kind", q.kind), ("handle", qdisc_handle(q.handle))])
    if show_dev:
        out.add("dev", device_name(q))
    if q.parent == TC_H_ROOT:
        out.add("root", True).add("refcnt", 2)
    elif q.parent == TC_H_INGRESS:
        out.add("parent", "ffff:fff1")
    else:
        out.add("parent", format_handle(q.parent))
    out.add("options", kind_options(q, flags.details))
    if flags.stats:
        stats_json(out, q)
        out.extend(kind_xstats(q))
    return out
