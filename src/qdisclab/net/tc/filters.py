"""``tc filter add|del|show``: classic classifiers onto a qdisc's filter chain.

The classifiers qdisclab has: ``u32`` matches on IPv4 flow keys (``match ip
dport 80 0xffff``, ``sport``, ``src 10.0.0.0/8``, ``dst``, ``protocol 6 0xff``),
``fw`` (``handle MARK fw``), ``matchall``; each ends in ``classid`` or
``flowid`` (the same thing), written as the qdisc's own handle says.

>>> from qdisclab.net.tc import TcHost
>>> h = TcHost(); _ = h.run("ip link add dev eth0 type dummy")
>>> _ = h.run("tc qdisc add dev eth0 root handle 1: prio")
>>> h.run("tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:1").exit
0
"""

from __future__ import annotations

import errno
from typing import Any

from qdisclab.net.addr import parse_prefix
from qdisclab.sched.constants import TC_H_MAJ
from qdisclab.sched.filters import TcFilter
from qdisclab.sched.handle import format_handle, parse_tc_classid
from qdisclab.sched.options import INCOMPLETE, KernelRefusal, TcParseError
from qdisclab.sched.report import qdisc_handle
from qdisclab.sched.tcutil import TcValueError, get_unsigned, matches

_U32_KEYS = {"dport": "dport", "sport": "sport", "src": "src", "dst": "dst",
             "protocol": "protocol"}  # fmt: skip


def filter_command(host: Any, flags: Any, words: list[str]) -> str:
    if not words or matches(words[0], "show") or matches(words[0], "list") or words[0] == "ls":
        return show_filters(host, words[1:])
    verb, rest = words[0], words[1:]
    if verb in ("add", "replace", "change"):
        return add_filter(host, rest)
    if matches(verb, "delete"):
        return delete_filter(host, rest)
    raise TcParseError(f'Command "{verb}" is unknown, try "tc filter help".')


def _next(words: list[str], i: int) -> str:
    if i + 1 >= len(words):
        raise TcParseError(INCOMPLETE, 255)
    return words[i + 1]


def add_filter(host: Any, words: list[str]) -> str:
    from qdisclab.net.tc.commands import lookup

    name, parent, prio, kind, handle = "", 0, 0, "", ""
    i = 0
    while i < len(words):
        word = words[i]
        if word == "dev":
            name, i = _next(words, i), i + 2
        elif word == "parent":
            parent, i = parse_tc_classid(_next(words, i), "invalid parent ID"), i + 2
        elif word == "root":
            parent, i = 0, i + 1
        elif word == "handle":
            handle, i = _next(words, i), i + 2
        elif matches(word, "protocol"):
            i += 2
        elif word in ("prio", "preference", "pref"):
            try:
                prio = get_unsigned(_next(words, i))
            except TcValueError:
                raise TcParseError(
                    f'Error: argument "{words[i + 1]}" is wrong: invalid priority value', 255
                ) from None
            i += 2
        else:
            kind = word
            words = words[i + 1 :]
            break
    else:
        words = []
    dev = host.device(name)
    q = lookup(dev, TC_H_MAJ(parent)) if parent else dev.qdisc
    if q is None:
        raise KernelRefusal(errno.EINVAL, "Parent Qdisc doesn't exists")
    match, classid = _classifier(kind, words, handle, q)
    q.filters.add(TcFilter(prio=prio or 49152, classid=classid, match=match, name=kind))
    return ""


def _classifier(kind: str, words: list[str], handle: str, q: Any) -> tuple[dict[str, Any], int]:
    match: dict[str, Any] = {}
    classid = 0
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("classid", "flowid"):
            classid = parse_tc_classid(_next(words, i), "invalid class ID")
            if not TC_H_MAJ(classid):
                classid |= q.handle
            i += 2
        elif kind == "u32" and word == "match":
            if i + 3 >= len(words) or words[i + 1] != "ip":
                raise TcParseError('Illegal "match"')
            key, value = words[i + 2], words[i + 3]
            if key not in _U32_KEYS:
                raise TcParseError(f'Illegal "match" key "{key}"')
            if key in ("src", "dst"):
                match[key] = parse_prefix(value)
                i += 4
            else:
                match[key] = int(value, 0)
                i += 5 if i + 4 < len(words) and words[i + 4].startswith("0x") else 4
        else:
            raise TcParseError(f'What is "{word}"?')
    if kind == "fw":
        if not handle:
            raise KernelRefusal(errno.EINVAL)
        match["mark"] = int(handle, 0)
    elif kind not in ("u32", "matchall"):
        raise KernelRefusal(errno.ENOENT, "Specified filter kind is unknown")
    if not classid:
        raise TcParseError("classid (or flowid) is required")
    return match, classid


def delete_filter(host: Any, words: list[str]) -> str:
    name = words[words.index("dev") + 1] if "dev" in words else ""
    dev = host.device(name)
    for q in dev.qdisc.walk():
        for flt in list(q.filters):
            q.filters.remove(flt)
    return ""


def show_filters(host: Any, words: list[str]) -> str:
    name = words[words.index("dev") + 1] if "dev" in words else ""
    dev = host.device(name)
    lines = []
    for q in dev.qdisc.walk():
        for flt in q.filters:
            keys = " ".join(f"{k} {v}" for k, v in flt.match.items())
            lines.append(
                f"filter parent {qdisc_handle(q.handle)} protocol ip pref {flt.prio} {flt.name} "
                f"{keys} classid {format_handle(flt.classid)}".replace("  ", " ")
            )
    return "".join(line + "\n" for line in lines)
