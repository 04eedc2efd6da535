"""``tc filter add|replace|change|del|get|show`` as tc_filter.c and net/sched/cls_api.c do them.

A qdisc's filters live in its block: one chain (0) of classifier instances,
one per priority, kept in priority order, each of one kind and protocol. A
filter command names an instance by ``pref`` (and ``protocol``), a filter in
it by ``handle``; the kernel's rules and its extack texts decide what happens
(``del`` with only ``pref`` removes the whole instance, ``del`` with neither
flushes the chain, a u32 replace keeps the node's selector, ...).

The classifiers: ``u32`` (its ``match ip`` fields and ``match mark``), ``fw``
and ``matchall``. After every change the qdisc's filter chain (what
``tc_classify`` runs) is rebuilt from the block, in the kernel's order.

>>> from qdisclab.net.tc import TcHost
>>> h = TcHost(); _ = h.run("ip link add dev eth0 type dummy")
>>> _ = h.run("tc qdisc add dev eth0 root handle 1: prio")
>>> _ = h.run("tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:1")
>>> for line in h.run("tc filter show dev eth0").stdout.splitlines():
...     print(line.rstrip())
filter parent 1: protocol ip pref 1 u32 chain 0
filter parent 1: protocol ip pref 1 u32 chain 0 fh 800: ht divisor 1
filter parent 1: protocol ip pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 *flowid 1:1 not_in_hw
  match 00000050/0000ffff at 20
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

from qdisclab.net.tc.cls_simple import Fw, MatchAll, parse_fw, parse_matchall
from qdisclab.net.tc.cls_u32 import U32, U32Common
from qdisclab.net.tc.u32_parse import parse_u32
from qdisclab.sched.constants import TC_H_MAJ, TC_H_MIN, TC_H_ROOT
from qdisclab.sched.filters import TcFilter
from qdisclab.sched.handle import parse_tc_classid
from qdisclab.sched.options import INCOMPLETE, KernelRefusal, TcParseError
from qdisclab.sched.tcutil import TcValueError, get_unsigned, matches

TC_H_INGRESS_BLOCK = 0xFFFFFFF2  # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS): "ingress"
_CREATE, _EXCL, _REPLACE = 0x400, 0x200, 0x100
_VERBS = {"add": _CREATE | _EXCL, "replace": _CREATE | _REPLACE, "change": 0}
# ll_proto_n2a / ll_proto_a2n for the protocols a tc script names.
ETH_P = {"all": 0x0003, "ip": 0x0800, "arp": 0x0806, "802.1Q": 0x8100, "ipv6": 0x86DD}
ETH_NAMES = {v: k for k, v in ETH_P.items()}
_NO_BLOCK = ("tbf", "red", "netem")  # classful, but their class ops have no tcf_block
_IP_PROTOCOLS = (0x0003, 0x0800)  # what qdisclab's (IPv4) packets match
_KINDS: dict[str, tuple[Any, Any]] = {"u32": (U32, parse_u32), "fw": (Fw, parse_fw),
                                      "matchall": (MatchAll, parse_matchall)}  # fmt: skip
# Classifiers tc 6.1 has a parser for that qdisclab does not model (as a kernel built without them).
_TC_KNOWS = ("basic", "bpf", "cgroup", "flow", "flower", "route", "rsvp", "tcindex")
_TALK = "We have an error talking to the kernel"
FILTER_USAGE = (
    "Usage: tc filter [ add | del | change | replace | show ] [ dev STRING ]\n"
    "       tc filter [ add | del | change | replace | show ] [ block BLOCK_INDEX ]\n"
    "       tc filter get dev STRING parent CLASSID protocol PROTO handle FILTERID pref PRIO FILTER_TYPE\n"
    "       tc filter get block BLOCK_INDEX protocol PROTO handle FILTERID pref PRIO FILTER_TYPE\n"
    "       [ pref PRIO ] protocol PROTO [ chain CHAIN_INDEX ]\n"
    "       [ estimator INTERVAL TIME_CONSTANT ]\n"
    "       [ root | ingress | egress | parent CLASSID ]\n"
    "       [ handle FILTERID ] [ [ FILTER_TYPE ] [ help | OPTIONS ] ]\n"
    "\n"
    "       tc filter show [ dev STRING ] [ root | ingress | egress | parent CLASSID ]\n"
    "       tc filter show [ block BLOCK_INDEX ]\n"
    "Where:\n"
    "FILTER_TYPE := { u32 | bpf | fw | route | etc. }\n"
    "FILTERID := ... format depends on classifier, see there\n"
    "OPTIONS := ... try tc filter add <desired FILTER_KIND> help"
)


class Proto:
    """``struct tcf_proto``: one classifier instance of a chain."""

    def __init__(self, prio: int, protocol: int, impl: Any) -> None:
        self.prio, self.protocol, self.impl = prio, protocol, impl


class Block:
    """``struct tcf_block`` of one qdisc: chain 0's instances and the u32 tables they share."""

    def __init__(self, q: Any) -> None:
        self.q = q
        self.protos: list[Proto] = []
        self.u32: U32Common | None = None
        self.installed: list[TcFilter] = []

    def sync(self) -> None:
        """Rebuild what the datapath classifies with, in the kernel's order."""
        for flt in self.installed:
            self.q.filters.remove(flt)
        self.installed = []
        for tp in self.protos:
            if tp.protocol not in _IP_PROTOCOLS:
                continue
            for classid, program in tp.impl.programs():
                flt = TcFilter(
                    prio=tp.prio, classid=classid or 0, program=program, name=tp.impl.kind
                )
                self.q.filters.add(flt)
                self.installed.append(flt)


def block_of(host: Any, q: Any) -> Block:
    """The block of ``q`` (kept on the host: a qdisc's slots hold only the datapath's chain)."""
    block: Block | None = host.filter_blocks.get(id(q))
    if block is None or block.q is not q:
        block = host.filter_blocks[id(q)] = Block(q)
    return block


def filter_command(host: Any, flags: Any, words: list[str]) -> Any:
    from qdisclab.net.tc.filter_show import get_filter, show_filters

    if not words or matches(words[0], "show") or matches(words[0], "list") or words[0] == "ls":
        return show_filters(host, flags, words[1:])
    verb, rest = words[0], words[1:]
    if verb in _VERBS:
        return _talk(lambda: add_filter(host, _VERBS[verb], rest))
    if matches(verb, "delete"):
        return _talk(lambda: delete_filter(host, rest))
    if matches(verb, "get"):
        return _talk(lambda: get_filter(host, flags, rest))
    if matches(verb, "help"):
        raise TcParseError(FILTER_USAGE, 255)
    raise TcParseError(f'Command "{verb}" is unknown, try "tc filter help".', 255)


def _talk(fn: Any) -> Any:
    """tc_filter.c adds its own line after the kernel's error."""
    try:
        return fn()
    except KernelRefusal as exc:
        exc.tc_text += f"\n{_TALK}"
        raise


@dataclass
class Request:
    """The words of a filter command: where, which instance, which filter, what kind."""

    dev: str = ""
    parent: int = 0
    prio: int = 0
    protocol: int = 0
    handle: str = ""
    kind: str = ""
    options: list[str] = field(default_factory=list)


def parse_request(words: list[str], show: bool = False) -> Request:
    """tc_filter_modify's (or tc_filter_list's) loop over the words before the kind."""
    req = Request()
    i = 0
    while i < len(words):
        word = words[i]
        has_value = i + 1 < len(words)
        value = words[i + 1] if has_value else ""
        takes_value = word in ("dev", "parent", "handle", "chain") or any(
            matches(word, k) for k in ("protocol", "preference", "priority")
        )
        if takes_value and not has_value:
            raise TcParseError(INCOMPLETE, 255)
        if word == "dev":
            if req.dev:
                raise TcParseError(f'Error: duplicate "dev": "{value}" is the second value.', 255)
            req.dev, i = value, i + 2
        elif word in ("root", "ingress", "egress"):
            if req.parent:
                raise TcParseError(f'Error: "{word}" is duplicate parent ID', 255)
            req.parent = {"root": TC_H_ROOT, "ingress": TC_H_INGRESS_BLOCK, "egress": 0xFFFFFFF3}[
                word
            ]
            i += 1
        elif word == "parent":
            if req.parent:
                raise TcParseError(
                    f'Error: duplicate "parent": "{value}" is the second value.', 255
                )
            req.parent, i = parse_tc_classid(value, "Invalid parent ID"), i + 2
        elif word == "handle":
            req.handle, i = value, i + 2
        elif matches(word, "preference") or matches(word, "priority"):
            try:
                req.prio = get_unsigned(value)
            except TcValueError:
                raise TcParseError(
                    f'Error: argument "{value}" is wrong: invalid priority value', 255
                ) from None
            i += 2
        elif matches(word, "protocol"):
            proto = next((v for k, v in ETH_P.items() if k.lower() == value.lower()), None)
            if proto is None:
                raise TcParseError(f'Error: argument "{value}" is wrong: invalid protocol', 255)
            req.protocol, i = proto, i + 2
        elif word == "chain":
            if value != "0":
                raise KernelRefusal(errno.EOPNOTSUPP, "qdisclab models chain 0 only")
            i += 2
        elif matches(word, "help"):
            raise TcParseError(FILTER_USAGE, 255)
        elif show:
            raise TcParseError(f' What is "{word}"? Try "tc filter help"', 255)  # (sic)
        else:
            req.kind, req.options = word, words[i + 1 :]
            break
    return req


def parse_kind(req: Request) -> dict[str, Any] | None:
    """The classifier's own parser (f_KIND.c); None when tc has none for the kind."""
    entry = _KINDS.get(req.kind)
    if entry is None:
        if req.kind in _TC_KNOWS:  # tc parses them; the simulated kernel has no such module
            raise KernelRefusal(errno.ENOENT, "TC classifier not found")
        if req.options:
            raise TcParseError(
                f'Unknown filter "{req.kind}", hence option "{req.options[0]}" is unparsable'
            )
        return None
    parsed: dict[str, Any] = entry[1](list(req.options), req.handle)
    return parsed


def locate(host: Any, req: Request) -> tuple[Any, Block]:
    """``__tcf_qdisc_find`` and the class check: the qdisc whose block the request names."""
    from qdisclab.net.tc.commands import lookup

    if not req.dev:
        raise KernelRefusal(errno.ENODEV)
    dev = host.device(req.dev)
    if not req.parent:
        q = dev.qdisc
    else:
        q = lookup(dev, TC_H_MAJ(req.parent))
        if q is None:
            raise KernelRefusal(errno.EINVAL, "Parent Qdisc doesn't exists")
    if q.kind != "ingress" and not hasattr(q.ops, "tc_find_class"):
        raise KernelRefusal(errno.EINVAL, "Qdisc not classful")
    if q.kind in _NO_BLOCK:
        raise KernelRefusal(errno.EOPNOTSUPP, "Class doesn't support blocks")
    if TC_H_MIN(req.parent) and q.kind != "ingress":
        if q.ops.tc_find_class(TC_H_MIN(req.parent)) is None:
            raise KernelRefusal(errno.ENOENT, "Specified class doesn't exist")
        raise KernelRefusal(
            errno.EOPNOTSUPP,
            f"qdisclab does not model the filter chains of classes; attach to parent {q.handle >> 16:x}:",
        )
    return q, block_of(host, q)


def find_proto(
    block: Block, prio: int, protocol: int, allocate: bool = False
) -> tuple[int, Proto | None]:
    """``tcf_chain_tp_find``: the instance at ``prio`` (or where one would go), protocol checked."""
    for at, tp in enumerate(block.protos):
        if tp.prio >= prio:
            if tp.prio != prio:
                return at, None
            if allocate or (protocol and tp.protocol != protocol):
                raise KernelRefusal(
                    errno.EINVAL, "Protocol mismatch for filter with specified priority"
                )
            return at, tp
    return len(block.protos), None


def add_filter(host: Any, nl_flags: int, words: list[str]) -> str:
    """``tc_new_tfilter``."""
    req = parse_request(words)
    if req.handle and not req.kind:
        raise TcParseError('Must specify filter type when using "handle"', 255)
    if not req.protocol and nl_flags & _CREATE:
        req.protocol = ETH_P["all"]
    opts = parse_kind(req) if req.kind else None
    _q, block = locate(host, req)
    prio, allocate = req.prio, False
    if not prio:
        if not nl_flags & _CREATE:
            raise KernelRefusal(errno.ENOENT, "Invalid filter command with priority of zero")
        prio, allocate = 0x8000, True
    at, tp = find_proto(block, prio, req.protocol, allocate)
    created = None
    if tp is None:
        if not req.kind or not req.protocol:
            raise KernelRefusal(errno.EINVAL, "Filter kind and protocol must be specified")
        if not nl_flags & _CREATE:
            raise KernelRefusal(
                errno.ENOENT, "Need both RTM_NEWTFILTER and NLM_F_CREATE to create a new chain"
            )
        if allocate:  # tcf_auto_prio: just below the instance after it, or 0xC000
            prio = block.protos[at].prio - 1 if at < len(block.protos) else 0xC000
        if opts is None:
            raise KernelRefusal(errno.ENOENT, "TC classifier not found")
        cls = _KINDS[req.kind][0]
        common = block.u32 if cls is U32 else None
        created = tp = Proto(prio, req.protocol, cls(common, prio))
        if cls is U32:
            block.u32 = tp.impl.common
        block.protos.insert(at, tp)
    if req.kind and req.kind != tp.impl.kind:
        raise KernelRefusal(errno.EINVAL, "Specified filter kind does not match existing one")
    try:
        handle = (opts or {}).get("handle", 0)
        found = tp.impl.get(handle) if handle else None
        if found is None:
            if not nl_flags & _CREATE:
                raise KernelRefusal(
                    errno.ENOENT, "Need both RTM_NEWTFILTER and NLM_F_CREATE to create a new filter"
                )
        elif nl_flags & _EXCL:
            raise KernelRefusal(errno.EEXIST, "Filter already exists")
        tp.impl.change(found, handle, opts or {"classid": None, "sel_ok": False})
    except KernelRefusal:
        if created is not None:  # the new instance goes, as tcf_chain_tp_delete_empty does
            _remove(block, created)
        raise
    block.sync()
    return ""


def _remove(block: Block, tp: Proto) -> None:
    block.protos.remove(tp)
    tp.impl.destroy()
    if block.u32 is not None and not block.u32.tables:
        block.u32 = None  # the last u32 instance takes the shared tables with it


def delete_filter(host: Any, words: list[str]) -> str:
    """``tc_del_tfilter``: flush the chain, remove an instance, or delete one filter."""
    req = parse_request(words)
    if req.handle and not req.kind:
        raise TcParseError('Must specify filter type when using "handle"', 255)
    opts = parse_kind(req) if req.kind else None
    if not req.prio and (req.protocol or req.handle or req.kind):
        raise KernelRefusal(errno.EINVAL, "Cannot flush filters with protocol, handle or kind set")
    _q, block = locate(host, req)
    if not block.protos:
        if not req.prio:
            return ""  # a flush of a chain that does not exist: nothing to do
        raise KernelRefusal(errno.ENOENT, "Cannot find specified filter chain")
    if not req.prio:
        for each in list(block.protos):
            _remove(block, each)
        block.sync()
        return ""
    _at, tp = find_proto(block, req.prio, req.protocol)
    if tp is None:
        raise KernelRefusal(errno.ENOENT, "Filter with specified priority/protocol not found")
    if req.kind and req.kind != tp.impl.kind:
        raise KernelRefusal(errno.EINVAL, "Specified filter kind does not match existing one")
    handle = (opts or {}).get("handle", 0)
    if not handle:
        _remove(block, tp)
    else:
        found = tp.impl.get(handle)
        if found is None:
            raise KernelRefusal(errno.ENOENT, "Specified filter handle not found")
        tp.impl.delete(found)
        if tp.impl.last():
            _remove(block, tp)
    block.sync()
    return ""
