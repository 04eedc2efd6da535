"""``fw`` (``handle MARK[/MASK] fw classid X``) and ``matchall``: f_fw.c, f_matchall.c and their kernel halves.

fw classifies on ``skb->mark & mask``; many fw filters share one instance (one
priority), one per mark. matchall takes every packet and holds one filter
(handle 1 unless given).

>>> fw = Fw()
>>> fw.change(None, 5, {"classid": 0x10010, "mask": None})
>>> [text for _, text, _ in fw.dump()]
['handle 0x5 classid 1:10 ']
"""

from __future__ import annotations

import errno
from typing import Any

from qdisclab.net.tc.json_out import Obj
from qdisclab.sched.handle import filter_classid, sprint_tc_classid
from qdisclab.sched.options import KernelRefusal, TcParseError

FW_USAGE = (
    "Usage: ... fw [ classid CLASSID ] [ indev DEV ] [ action ACTION_SPEC ]\n"
    "\tCLASSID := Push matching packets to the class identified by CLASSID with format X:Y\n"
    "\t\tCLASSID is parsed as hexadecimal input.\n"
    "\tDEV := specify device for incoming device classification.\n"
    "\tACTION_SPEC := Apply an action on matching packets.\n"
    "\tNOTE: handle is represented as HANDLE[/FWMASK].\n"
    "\t\tFWMASK is 0xffffffff by default."
)
MATCHALL_USAGE = (
    "Usage: ... matchall [skip_sw | skip_hw]\n"
    "                 [ action ACTION_SPEC ] [ classid CLASSID ]\n"
    "\n"
    "Where: SELECTOR := SAMPLE SAMPLE ...\n"
    "       FILTERID := X:Y:Z\n"
    "       ACTION_SPEC := ... look at individual actions\n"
    "\n"
    "NOTE: CLASSID is parsed as hexadecimal input."
)


def _classid_words(words: list[str], kind: str, usage: str) -> int | None:
    classid = None
    i = 0
    while i < len(words):
        word = words[i]
        if "classid".startswith(word) or (
            "flowid".startswith(word) if kind == "fw" else word == "flowid"
        ):
            classid = filter_classid(words, i)
            i += 2
        elif word == "help":
            raise TcParseError(usage)
        else:
            raise TcParseError(f'What is "{word}"?\n{usage}')
    return classid


def parse_fw(words: list[str], handle: str = "") -> dict[str, Any]:
    """``fw_parse_opt``: ``handle MARK[/MASK]`` (numbers as strtoul base 0) and ``classid``."""
    out: dict[str, Any] = {"handle": 0, "mask": None}
    if handle:
        mark, _, mask = handle.partition("/")
        try:
            out["handle"] = int(mark, 0)
            if mask:
                out["mask"] = int(mask, 0)
        except ValueError:
            raise TcParseError('Illegal "handle"') from None
    out["classid"] = _classid_words(words, "fw", FW_USAGE)
    return out


def parse_matchall(words: list[str], handle: str = "") -> dict[str, Any]:
    """``matchall_parse_opt``: ``classid``; the handle a number."""
    out: dict[str, Any] = {"handle": 0}
    if handle:
        try:
            out["handle"] = int(handle, 0)
        except ValueError:
            raise TcParseError('Illegal "handle"') from None
    out["classid"] = _classid_words(words, "matchall", MATCHALL_USAGE)
    return out


class FwFilter:
    """One fw filter: ``skb->mark & mask == handle`` gives ``classid``."""

    __slots__ = ("classid", "handle", "mask")

    def __init__(self, handle: int, mask: int, classid: int | None) -> None:
        self.handle, self.mask, self.classid = handle, mask, classid

    def __call__(self, skb: Any) -> int:
        return (self.classid or 0) if skb.mark & self.mask == self.handle else 0


class Fw:
    """``fw_head``: the filters of one priority, by mark."""

    kind = "fw"

    def __init__(self, common: Any = None, prio: int = 0) -> None:
        self.filters: list[FwFilter] = []
        self.mask = 0xFFFFFFFF

    def destroy(self) -> None:
        pass

    def get(self, handle: int) -> FwFilter | None:
        return next((f for f in self.filters if f.handle == handle), None)

    def change(self, existing: FwFilter | None, handle: int, opts: dict[str, Any]) -> None:
        """``fw_change``: a handle is required; every filter of the instance shares one mask."""
        mask = opts["mask"] if opts["mask"] is not None else 0xFFFFFFFF
        if existing is not None:
            if mask != self.mask:
                raise KernelRefusal(errno.EINVAL)
            existing.classid = opts["classid"]
            return
        if not handle:
            raise KernelRefusal(errno.EINVAL)
        if self.filters and mask != self.mask:
            raise KernelRefusal(errno.EINVAL)
        self.mask = mask
        self.filters.append(FwFilter(handle, mask, opts["classid"]))

    def delete(self, found: FwFilter) -> None:
        self.filters.remove(found)

    def last(self) -> bool:
        return not self.filters

    def dump(self, pretty: bool = False) -> list[tuple[Any, str, Obj]]:
        """``fw_print_opt`` for each filter, in the order of the kernel's hash walk."""
        rows = []
        for f in sorted(self.filters, key=lambda f: f.handle & 0xFF):
            text = (
                f"handle 0x{f.handle:x}/0x{f.mask:x} "
                if f.mask != 0xFFFFFFFF
                else f"handle 0x{f.handle:x} "
            )
            handle = Obj([("mark", f"{f.handle:x}"), ("mask", f"{f.mask:x}")])
            obj = Obj([("handle", handle)])
            if f.classid is not None:
                text += f"classid {sprint_tc_classid(f.classid)} "
                obj.add("classid", sprint_tc_classid(f.classid))
            rows.append((f, text, obj))
        return rows

    def programs(self) -> list[tuple[int | None, Any]]:
        return [(f.classid, f) for f in self.filters]


class MatchAllFilter:
    __slots__ = ("classid", "handle")

    def __init__(self, handle: int, classid: int | None) -> None:
        self.handle, self.classid = handle, classid

    def __call__(self, skb: Any) -> int:
        return self.classid or 0


class MatchAll:
    """``cls_mall_head``: one filter per priority."""

    kind = "matchall"

    def __init__(self, common: Any = None, prio: int = 0) -> None:
        self.filter: MatchAllFilter | None = None

    def destroy(self) -> None:
        pass

    def get(self, handle: int) -> MatchAllFilter | None:
        f = self.filter
        return f if f is not None and f.handle == handle else None

    def change(self, existing: MatchAllFilter | None, handle: int, opts: dict[str, Any]) -> None:
        if existing is not None:
            existing.classid = opts["classid"]
            return
        if self.filter is not None:
            raise KernelRefusal(errno.EEXIST)
        self.filter = MatchAllFilter(handle or 1, opts["classid"])

    def delete(self, found: MatchAllFilter) -> None:
        self.filter = None

    def last(self) -> bool:
        return self.filter is None

    def dump(self, pretty: bool = False) -> list[tuple[Any, str, Obj]]:
        f = self.filter
        if f is None:
            return []
        text, obj = f"handle 0x{f.handle:x} ", Obj([("handle", f.handle)])
        if f.classid is not None:
            text += f"flowid {sprint_tc_classid(f.classid)} "
            obj.add("flowid", sprint_tc_classid(f.classid))
        return [(f, text + "\n  not_in_hw", obj.add("not_in_hw", True))]

    def programs(self) -> list[tuple[int | None, Any]]:
        return [(self.filter.classid, self.filter)] if self.filter is not None else []
