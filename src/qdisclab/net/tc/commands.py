"""``tc qdisc add|change|replace|link|del|show`` with the kernel's ``tc_modify_qdisc`` rules.

The command words are read as tc_qdisc.c reads them; what happens then is
what net/sched/sch_api.c decides from the request's netlink flags (``add`` is
CREATE|EXCL, ``replace`` CREATE|REPLACE, ``change`` none, ``link`` REPLACE):
a user-given handle names the qdisc, an existing qdisc of the same kind is
changed in place, one of another kind is replaced (grafted over), and the
kernel's errors come with its own extack messages.
"""

from __future__ import annotations

import errno
import shlex
from dataclasses import dataclass
from typing import Any

from qdisclab.net.tc.ingress import Ingress, modify_ingress
from qdisclab.net.tc.json_out import dump_json, qdisc_json
from qdisclab.sched import qdisc_kinds
from qdisclab.sched.constants import TC_H_INGRESS, TC_H_MAJ, TC_H_MIN, TC_H_ROOT
from qdisclab.sched.handle import handles_in_use, qdisc_alloc_handle, requested_handle
from qdisclab.sched.options import INCOMPLETE, KernelRefusal, TcParseError
from qdisclab.sched.qdiscs.pfifo import Pfifo
from qdisclab.sched.registry import create_qdisc, lookup_qdisc
from qdisclab.sched.report import qdisc_block, visible
from qdisclab.sched.tcutil import matches, speed_of_device

NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
_VERBS = {"add": NLM_F_CREATE | NLM_F_EXCL, "change": 0,
          "replace": NLM_F_CREATE | NLM_F_REPLACE, "link": NLM_F_REPLACE}  # fmt: skip
# Kinds whose kernel ``change`` updates only the attributes given (the others take a whole struct).
_MERGING_CHANGE = ("codel", "fq_codel", "fq")
_NO_CHANGE = ("htb", "pfifo_fast", "noqueue", "noop")


@dataclass
class Flags:
    """tc's global options."""

    stats: bool = False
    details: bool = False
    json: bool = False
    pretty: bool = False
    iec: bool = False


class NoQueue(Pfifo):
    """The root a new device has (``noqueue``, handle 0): shown, not configurable."""

    id = "noqueue"

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        return ""


def install_default_root(dev: Any) -> None:
    """Give ``dev`` the kernel's default root: a handle-0 qdisc ``tc`` cannot delete."""
    with requested_handle(0):
        dev.set_qdisc(create_qdisc(NoQueue, dev))


def dispatch(host: Any, flags: Flags, words: list[str]) -> Any:
    obj, rest = words[0], words[1:]
    if matches(obj, "qdisc"):
        return qdisc_command(host, flags, rest)
    if matches(obj, "class"):
        from qdisclab.net.tc.classes import class_command

        return class_command(host, flags, rest)
    if matches(obj, "filter"):
        from qdisclab.net.tc.filters import filter_command

        return filter_command(host, flags, rest)
    raise TcParseError(f'Object "{obj}" is unknown, try "tc help".', 255)


def qdisc_command(host: Any, flags: Flags, words: list[str]) -> Any:
    if not words or matches(words[0], "list") or matches(words[0], "show") or words[0] == "ls":
        return show_qdiscs(host, flags, words[1:])
    verb, rest = words[0], words[1:]
    if verb in _VERBS:
        return modify_qdisc(host, _VERBS[verb], rest)
    if matches(verb, "delete"):
        return delete_qdisc(host, rest)
    raise TcParseError(f'Command "{verb}" is unknown, try "tc qdisc help".', 255)


@dataclass
class QdiscRequest:
    dev: str = ""
    handle: int = 0
    parent: int = 0
    kind: str = ""
    options: tuple[str, ...] = ()


def parse_request(words: list[str]) -> QdiscRequest:
    """tc_qdisc_modify's loop: ``dev``, ``handle``, ``root``/``parent``/``ingress``, then KIND."""
    from qdisclab.sched.handle import parse_qdisc_id, parse_tc_classid

    req = QdiscRequest()
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("dev", "handle", "parent") and i + 1 >= len(words):
            raise TcParseError(INCOMPLETE, 255)
        if word == "dev":
            if req.dev:
                raise _duparg("dev", words[i + 1])
            req.dev = words[i + 1]
            i += 2
        elif word == "handle":
            if req.handle:
                raise _duparg("handle", words[i + 1])
            req.handle = parse_qdisc_id(words[i + 1])
            i += 2
        elif word == "root":
            if req.parent:
                raise TcParseError('Error: "root" is duplicate parent ID', 255)
            req.parent = TC_H_ROOT
            i += 1
        elif word == "parent":
            if req.parent:
                raise _duparg("parent", words[i + 1])
            req.parent = parse_tc_classid(words[i + 1], "invalid parent ID")
            i += 2
        elif word in ("ingress", "clsact"):
            if req.parent:
                raise TcParseError(f'Error: "{word}" is a duplicate parent ID', 255)
            req.parent, req.handle, req.kind = TC_H_INGRESS, 0xFFFF0000, word
            req.options = tuple(words[i + 1 :])
            break
        elif matches(word, "help"):
            raise TcParseError(QDISC_USAGE, 255)
        else:
            req.kind, req.options = word, tuple(words[i + 1 :])
            break
    return req


QDISC_USAGE = (
    "Usage: tc qdisc [ add | del | replace | change | show ] dev STRING\n"
    "       [ handle QHANDLE ] [ root | ingress | clsact | parent CLASSID ]\n"
    "       [ estimator INTERVAL TIME_CONSTANT ]\n"
    "       [ stab [ help | STAB_OPTIONS] ]\n"
    "       [ ingress_block BLOCK_INDEX ] [ egress_block BLOCK_INDEX ]\n"
    "       [ [ QDISC_KIND ] [ help | OPTIONS ] ]"
)


def _duparg(key: str, value: str) -> TcParseError:
    return TcParseError(f'Error: duplicate "{key}": "{value}" is the second value.', 255)


def parse_kind_options(host: Any, req: QdiscRequest) -> dict[str, Any] | None:
    """The kind's own parser (tc's q_KIND.c); None when tc has none (an unknown kind)."""
    if req.kind not in qdisc_kinds():
        if req.options:
            raise TcParseError(
                f'Unknown qdisc "{req.kind}", hence option "{req.options[0]}" is unparsable'
            )
        return None
    with speed_of_device(host.speed(req.dev)):
        return lookup_qdisc(req.kind).parse_options(list(req.options))


def modify_qdisc(host: Any, nl_flags: int, words: list[str]) -> str:
    """``tc_modify_qdisc``: create, graft, or change, by the request's flags."""
    req = parse_request(words)
    ingress = req.parent == TC_H_INGRESS
    opt = parse_kind_options(host, req) if req.kind and not ingress else None
    if ingress:
        Ingress.parse_options(list(req.options))
    if not req.dev:
        raise TcParseError('Not enough information: "dev" argument is required.')
    dev = host.device(req.dev)
    if req.parent == TC_H_INGRESS:
        out = modify_ingress(dev, nl_flags, req)
        host.ingress_queues[id(dev)] = dev  # dev_ingress_queue_create: it stays once made
        return out
    parent_q, q = None, None
    minor: int | None = 0
    if req.parent:
        parent_q, q, minor = qdisc_at(dev, req.parent, "Failed to find specified qdisc")
        if q is not None and q.handle == 0:
            q = None  # it may be a default qdisc: ignore it
        if q is None or not req.handle or q.handle != req.handle:
            if req.handle:
                if q is not None and not nl_flags & NLM_F_REPLACE:
                    raise KernelRefusal(errno.EEXIST, "NLM_F_REPLACE needed to override")
                if TC_H_MIN(req.handle):
                    raise KernelRefusal(errno.EINVAL, "Invalid minor handle")
                q = lookup(dev, req.handle)
                if q is None:
                    return create_and_graft(host, dev, req, opt, parent_q, minor, nl_flags)
                if nl_flags & NLM_F_EXCL:
                    raise KernelRefusal(errno.EEXIST, "Exclusivity flag on, cannot override")
                if req.kind and req.kind != q.kind:
                    raise KernelRefusal(
                        errno.EINVAL, "Invalid qdisc name: must match existing qdisc"
                    )
                raise KernelRefusal(errno.EINVAL, "Qdisc parent/child loop detected")
            if q is None:
                return create_and_graft(host, dev, req, opt, parent_q, minor, nl_flags)
            if req.kind and req.kind != q.kind:
                creating = nl_flags & NLM_F_CREATE and nl_flags & (NLM_F_REPLACE | NLM_F_EXCL)
                if creating or not nl_flags & (NLM_F_CREATE | NLM_F_REPLACE | NLM_F_EXCL):
                    return create_and_graft(host, dev, req, opt, parent_q, minor, NLM_F_CREATE)
    else:
        if not req.handle:
            raise KernelRefusal(errno.EINVAL, "Handle cannot be zero")
        q = lookup(dev, req.handle)
    if q is None:
        raise KernelRefusal(errno.ENOENT, "Specified qdisc not found")
    if nl_flags & NLM_F_EXCL:
        raise KernelRefusal(errno.EEXIST, "Exclusivity flag on, cannot modify")
    if req.kind and req.kind != q.kind:
        raise KernelRefusal(errno.EINVAL, "Invalid qdisc name: must match existing qdisc")
    change_qdisc(q, opt)
    return ""


def create_and_graft(
    host: Any, dev: Any, req: QdiscRequest, opt: Any, parent_q: Any, minor: int | None, flags: int
) -> str:
    if not flags & NLM_F_CREATE:
        raise KernelRefusal(errno.ENOENT, "Qdisc not found. To create specify NLM_F_CREATE flag")
    if opt is None:
        raise KernelRefusal(errno.ENOENT, "Specified qdisc kind is unknown")
    if parent_q is not None and minor is None:
        raise KernelRefusal(errno.ENOENT, "Specified class not found")
    handle = req.handle or qdisc_alloc_handle(dev)
    if not handle:
        raise KernelRefusal(errno.ENOSPC, "Maximum number of qdisc handles was exceeded")
    spec = shlex.join([req.kind, *req.options])
    with requested_handle(handle), speed_of_device(host.speed(req.dev)):
        if parent_q is None:
            dev.set_qdisc(create_qdisc(spec, dev, opt=opt))
        else:
            assert minor is not None  # a class slot was found above
            graft_child(parent_q, minor, spec)
    return ""


def graft_child(parent_q: Any, minor: int, spec: str) -> Any:
    """``qdisc_graft`` onto a class: the kind may refuse (htb on an inner class)."""
    graft = getattr(parent_q.ops, "tc_graft", None)
    if graft is not None:
        return graft(parent_q, minor, spec)
    return parent_q.graft(minor, spec)


def change_qdisc(q: Any, opt: dict[str, Any] | None) -> None:
    """``qdisc_change``: new parameters for a live qdisc, its counters and queue kept.

    A kind with an in-place change (``Qdisc.change``) keeps its queued packets,
    trimmed as its kernel ``change`` trims them; a kind without one restarts
    with the new options (its queued packets freed as a reset frees them).
    codel, fq_codel and fq keep every option the command does not name, as
    the kernel's attribute-wise change does.
    """
    if q.kind in _NO_CHANGE:
        raise KernelRefusal(errno.EINVAL, "Change operation not supported by specified qdisc")
    if opt is None:
        return
    if q.kind in _MERGING_CHANGE:
        defaults = type(q.ops).parse_options([])
        given = {k: v for k, v in opt.items() if defaults.get(k) != v or k not in q.opt}
        refuse = getattr(type(q.ops), "tc_refuses_change", None)
        if refuse is not None and refuse(q.opt, given):
            raise KernelRefusal(errno.EINVAL)
        opt = {**q.opt, **given}
    if not q.change(opt):
        q.reset()
        q.init(opt)


def qdisc_at(dev: Any, parent: int, missing: str) -> tuple[Any, Any, int | None]:
    """The qdisc attached at ``parent`` (``root`` or a class): (parent qdisc, qdisc, class minor)."""
    if parent == TC_H_ROOT:
        return None, dev.qdisc, 0
    parent_q = lookup(dev, TC_H_MAJ(parent))
    if parent_q is None:
        raise KernelRefusal(errno.ENOENT, missing)
    minor = class_minor(parent_q, parent)
    return parent_q, (parent_q.children.get(minor) if minor is not None else None), minor


def lookup(dev: Any, handle: int) -> Any:
    """``qdisc_lookup``: the qdisc of ``dev`` with this major, or None."""
    for root in (dev.qdisc, dev.ingress_qdisc):
        if root is None:
            continue
        for q in root.walk():
            if q.handle == handle and handle:
                return q
    return None


def class_minor(parent_q: Any, classid: int) -> int | None:
    """The child slot ``classid`` names in ``parent_q`` (its ``cl_ops->find``), or None."""
    find = getattr(parent_q.ops, "tc_find_class", None)
    if find is None:
        raise KernelRefusal(errno.EOPNOTSUPP, "Parent qdisc is not classful")
    minor: int | None = find(TC_H_MIN(classid))
    return minor


def delete_qdisc(host: Any, words: list[str]) -> str:
    """``tc qdisc del``: the kernel's RTM_DELQDISC checks, then the default comes back."""
    req = parse_request(words)
    if not req.dev:
        raise TcParseError('Not enough information: "dev" argument is required.')
    dev = host.device(req.dev)
    parent_q = None
    if req.parent == TC_H_INGRESS:
        q = dev.ingress_qdisc
        if q is None:  # the queue's noop qdisc (handle 0) once made; nothing before
            if host.ingress_queues.get(id(dev)) is dev:
                raise KernelRefusal(errno.EINVAL, "Invalid handle")
            raise KernelRefusal(errno.ENOENT, "Cannot find specified qdisc on specified device")
        dev.ingress_qdisc = None
        q.destroy()
        return ""
    if req.parent:
        parent_q, q, _minor = qdisc_at(
            dev, req.parent, "Failed to find qdisc with specified classid"
        )
        if q is None:
            raise KernelRefusal(errno.ENOENT, "Cannot find specified qdisc on specified device")
        if req.handle and q.handle != req.handle:
            raise KernelRefusal(errno.EINVAL, "Invalid handle")
    else:
        q = lookup(dev, req.handle)
        if q is None:
            raise KernelRefusal(errno.ENOENT, "Failed to find qdisc with specified handle")
    if req.kind and req.kind != q.kind:
        raise KernelRefusal(errno.EINVAL, "Invalid qdisc name: must match existing qdisc")
    if not req.parent:
        raise KernelRefusal(errno.EINVAL, "Classid cannot be zero")
    if q.handle == 0:
        raise KernelRefusal(errno.ENOENT, "Cannot delete qdisc with handle of zero")
    if parent_q is None:
        install_default_root(dev)
    else:
        detach = getattr(parent_q.ops, "tc_ungraft", None)
        if detach is not None:
            detach(parent_q, q.parent & 0xFFFF)
        else:
            with requested_handle(0):
                parent_q.graft(q.parent & 0xFFFF, "pfifo")
    return ""


def show_qdiscs(host: Any, flags: Flags, words: list[str]) -> str:
    """``tc [-s] [-d] [-j] qdisc show [dev NAME] [invisible]``."""
    name, invisible = None, False
    i = 0
    while i < len(words):
        if words[i] == "dev":
            if i + 1 >= len(words):
                raise TcParseError(INCOMPLETE, 255)
            name = words[i + 1]
            i += 2
        elif words[i] == "invisible":
            invisible = True
            i += 1
        elif words[i] in ("root", "ingress"):
            i += 1
        else:
            raise TcParseError(f'What is "{words[i]}"? Try "tc qdisc help".', 255)
    devices = [host.device(name)] if name else host.devices()
    qdiscs = []
    for dev in devices:
        for root in (dev.qdisc, dev.ingress_qdisc):
            if root is not None:
                qdiscs.extend(visible(root, invisible))
    if flags.json:
        return dump_json([qdisc_json(q, flags, show_dev=name is None) for q in qdiscs], flags)
    return "".join(
        qdisc_block(q, show_dev=name is None, stats=flags.stats, details=flags.details) + "\n"
        for q in qdiscs
    )


__all__ = ["Flags", "dispatch", "handles_in_use", "install_default_root", "lookup"]
