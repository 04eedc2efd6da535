"""``tc class add|change|replace|del|show`` (the kernel's ``tc_ctl_tclass``).

A classful kind takes class commands through ``tc_change_class(q, classid,
parentid, words, create) -> warning text`` and ``tc_delete_class(q, classid)``
on its ops; ``tc_classes(q, stats, details)`` lists them. Kinds whose classes
are fixed (tbf, prio, red) list one class per child slot.
"""

from __future__ import annotations

import errno
from typing import Any

from qdisclab.sched.constants import TC_H_MAJ, TC_H_MAKE, TC_H_ROOT
from qdisclab.sched.handle import format_handle, parse_tc_classid
from qdisclab.sched.options import INCOMPLETE, KernelRefusal, TcParseError
from qdisclab.sched.report import qdisc_handle
from qdisclab.sched.tcutil import matches, speed_of_device

_CREATE, _EXCL = 0x400, 0x200
_VERBS = {"add": _CREATE | _EXCL, "change": 0, "replace": _CREATE | 0x100}


def class_command(host: Any, flags: Any, words: list[str]) -> str | tuple[str, str]:
    if not words or matches(words[0], "show") or matches(words[0], "list") or words[0] == "ls":
        return show_classes(host, flags, words[1:])
    verb, rest = words[0], words[1:]
    if verb in _VERBS or matches(verb, "delete"):
        return modify_class(host, _VERBS.get(verb), rest)
    raise TcParseError(f'Command "{verb}" is unknown, try "tc class help".', 255)


def _parse(words: list[str]) -> tuple[str, int, int, str, list[str]]:
    dev, parent, classid, kind = "", 0, 0, ""
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("dev", "classid", "parent") and i + 1 >= len(words):
            raise TcParseError(INCOMPLETE, 255)
        if word == "dev":
            dev, i = words[i + 1], i + 2
        elif word == "classid":
            classid, i = parse_tc_classid(words[i + 1], "invalid class ID"), i + 2
        elif word == "parent":
            parent, i = parse_tc_classid(words[i + 1], "invalid parent ID"), i + 2
        elif word == "root":
            parent, i = TC_H_ROOT, i + 1
        else:
            return dev, parent, classid, word, words[i + 1 :]
    return dev, parent, classid, kind, []


def modify_class(host: Any, flags: int | None, words: list[str]) -> str | tuple[str, str]:
    """``tc_ctl_tclass``: locate the qdisc from the ids, then create, change or delete."""
    from qdisclab.net.tc.commands import lookup

    name, portid, clid, kind, options = _parse(words)
    if not name:
        raise TcParseError('Not enough information: "dev" argument is required.')
    dev = host.device(name)
    qid = TC_H_MAJ(clid)
    if portid != TC_H_ROOT:
        qid1 = TC_H_MAJ(portid)
        if qid and qid1 and qid != qid1:
            raise KernelRefusal(errno.EINVAL)
        qid = qid or qid1 or dev.qdisc.handle
        if portid:
            portid = TC_H_MAKE(qid, portid)
    elif not qid:
        qid = dev.qdisc.handle
    q = lookup(dev, qid)
    if q is None:
        raise KernelRefusal(errno.ENOENT)
    change = getattr(q.ops, "tc_change_class", None)
    if change is None and not hasattr(q.ops, "tc_find_class"):
        raise KernelRefusal(errno.EINVAL)
    clid = TC_H_MAKE(qid, clid) if clid else (qid if portid == TC_H_ROOT else 0)
    if flags is None:  # delete
        delete = getattr(q.ops, "tc_delete_class", None)
        if delete is None:
            raise KernelRefusal(errno.EOPNOTSUPP)
        delete(q, clid)
        return ""
    if kind and kind != q.kind:
        raise KernelRefusal(errno.EINVAL)
    if change is None:
        raise KernelRefusal(errno.EOPNOTSUPP)
    with speed_of_device(host.speed(name)):
        warning = change(q, clid, portid, options, flags)
    return ("", warning + "\n") if warning else ""


def show_classes(host: Any, flags: Any, words: list[str]) -> str:
    """``tc [-s] [-d] class show dev NAME``: every classful qdisc's classes."""
    name = words[1] if len(words) > 1 and words[0] == "dev" else None
    rest = words[2:]
    while rest[:1] == ["root"] or (
        rest[:1] in (["parent"], ["classid"], ["qdisc"]) and len(rest) > 1
    ):
        rest = rest[1:] if rest[0] == "root" else rest[2:]  # accepted; every class is listed
    if rest:
        raise TcParseError(f'What is "{rest[0]}"? Try "tc class help".', 255)
    if name is None:
        raise TcParseError('Not enough information: "dev" argument is required.')
    dev = host.device(name)
    out: list[str] = []
    for q in dev.qdisc.walk():
        listing = getattr(q.ops, "tc_classes", None)
        if listing is not None:
            out.extend(listing(q, flags.stats, flags.details))
        elif hasattr(q.ops, "tc_find_class"):
            out.extend(fixed_classes(q, flags.stats))
    return "".join(block + "\n" for block in out)


def fixed_classes(q: Any, stats: bool) -> list[str]:
    """One ``class KIND X:N parent X: leaf H:`` line per child slot (tbf, prio, red)."""
    blocks = []
    for minor in sorted(q.children):
        child = q.children[minor]
        leaf = f"leaf {qdisc_handle(child.handle)} " if child.handle else ""
        text = f"class {q.kind} {format_handle(TC_H_MAKE(q.handle, minor))} parent {qdisc_handle(q.handle)} {leaf}"
        if stats:
            text += "\n"  # these kinds have no class statistics: tc prints an empty line
        blocks.append(text)
    return blocks
