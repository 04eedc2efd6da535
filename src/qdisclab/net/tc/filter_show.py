"""``tc filter show`` and ``tc filter get``: tc_filter.c's ``print_filter`` over a qdisc's block.

Each instance prints a line of its own, then one line per element (a u32
table, a node, a fw filter); the words the show command named (parent,
protocol, pref) are left out of every line, as tc leaves them out. ``-j``
writes the same as JSON objects; ``-p`` decodes u32 keys of ``protocol ip``.
"""

from __future__ import annotations

import errno
from typing import Any

from qdisclab.net.tc.filters import (
    ETH_NAMES,
    ETH_P,
    TC_H_INGRESS_BLOCK,
    Block,
    Proto,
    Request,
    find_proto,
    locate,
    parse_kind,
    parse_request,
)
from qdisclab.net.tc.json_out import Obj, dump_json
from qdisclab.sched.handle import sprint_tc_classid
from qdisclab.sched.options import KernelRefusal, TcParseError


def _header(tp: Proto, parent: int, shown: Request) -> tuple[str, Obj]:
    """print_filter's start: what the show command did not already name."""
    words, obj = "filter ", Obj()
    if shown.parent != parent:
        name = "ingress" if parent == TC_H_INGRESS_BLOCK else None
        if name:
            words += f"{name} "
            obj.add(name, True)
        else:
            words += f"parent {sprint_tc_classid(parent)} "
            obj.add("parent", sprint_tc_classid(parent))
    if shown.protocol != tp.protocol:
        proto = ETH_NAMES.get(tp.protocol, f"[{tp.protocol}]")
        words += f"protocol {proto} "
        obj.add("protocol", proto)
    if shown.prio != tp.prio:
        words += f"pref {tp.prio} "
        obj.add("pref", tp.prio)
    words += f"{tp.impl.kind} chain 0 "
    return words, obj.add("kind", tp.impl.kind).add("chain", 0)


def _dump(
    block: Block, tp: Proto, shown: Request, pretty: bool = False
) -> list[tuple[Any, str, Obj]]:
    """One instance as the kernel dumps it: a line for the instance, then one per element."""
    parent = TC_H_INGRESS_BLOCK if block.q.kind == "ingress" else block.q.handle
    head, obj = _header(tp, parent, shown)
    rows: list[tuple[Any, str, Obj]] = [(None, head, obj)]
    # tc -p decodes u32 keys of "protocol ip" filters (with -j, the raw keys are kept)
    for element, text, options in tp.impl.dump(pretty and tp.protocol == ETH_P["ip"]):
        rows.append((element, head + text, Obj([*obj, ("options", options)])))
    return rows


def show_filters(host: Any, flags: Any, words: list[str]) -> str:
    """``tc [-s] [-j] filter show dev D [parent P | root | ingress] [pref N] [protocol P]``."""
    req = parse_request(words, show=True)
    if not req.dev:
        return dump_json([], flags) if flags.json else ""
    try:
        _q, block = locate(host, req)
    except KernelRefusal:
        return dump_json([], flags) if flags.json else ""
    rows = []
    for tp in block.protos:
        if (req.prio and tp.prio != req.prio) or (req.protocol and tp.protocol != req.protocol):
            continue
        rows.extend(_dump(block, tp, req, flags.pretty and not flags.json))
    if flags.json:
        return dump_json([obj for _e, _text, obj in rows], flags)
    return "".join(text + "\n" for _e, text, _obj in rows)


def get_filter(host: Any, flags: Any, words: list[str]) -> str:
    """``tc filter get``: one filter, its line in full."""
    req = parse_request(words)
    for missing, what in ((not req.protocol, "protocol"), (not req.prio, "priority"),
                          (not req.parent, "parent"), (not req.kind, "type")):  # fmt: skip
        if missing:
            raise TcParseError(f"Must specify filter {what}", 255)
    opts = parse_kind(req) or {}
    if not req.handle:
        raise TcParseError('Must specify filter "handle"', 255)
    _q, block = locate(host, req)
    _at, tp = find_proto(block, req.prio, req.protocol)
    if tp is None:
        raise KernelRefusal(errno.ENOENT, "Filter with specified priority/protocol not found")
    found = tp.impl.get(opts.get("handle", 0))
    if found is None:
        raise KernelRefusal(errno.ENOENT, "Specified filter handle not found")
    for element, text, obj in _dump(block, tp, Request()):
        if element is found:
            return dump_json([obj], flags) if flags.json else text + "\n"
    return ""
