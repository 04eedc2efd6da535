"""Shared helpers for the mprog tests: recording programs, errno assertions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qdisclab.errors import KernelError
from qdisclab.mprog import (
    BPF_TCX_EGRESS,
    BPF_TCX_INGRESS,
    BpfObjects,
    Hook,
    MprogHook,
    Program,
)

TCX_NEXT = -1
TCX_PASS = 0
TARGETS = [BPF_TCX_INGRESS, BPF_TCX_EGRESS]


def recording_prog(objs: BpfObjects, name: str, ret: int = TCX_NEXT, **kw: Any) -> Program:
    """A program that appends its name to the ctx list (the selftests' "seen" flags)."""

    def func(ctx: list[str]) -> int:
        ctx.append(name)
        return ret

    return objs.program(func, name=name, **kw)


def tc_progs(objs: BpfObjects, n: int = 4, **kw: Any) -> list[Program]:
    """tc1..tcN of progs/test_tc_link.c: tc1-tc4 return TCX_NEXT."""
    return [recording_prog(objs, f"tc{i}", **kw) for i in range(1, n + 1)]


def tcx_hook(objs: BpfObjects, target: int) -> Hook:
    """A device direction with tcx lifetime policy (lazy entry)."""
    return Hook(objs, target)


def expect_errno(code: int, func: Callable[..., Any], *args: Any, **kw: Any) -> KernelError:
    with pytest.raises(KernelError) as info:
        func(*args, **kw)
    assert info.value.errno == code, f"expected {code}, got {info.value}"
    return info.value


def ping(hook: MprogHook, classic: Callable[[list[str]], int] | None = None) -> list[str]:
    """Run the chain like tcx does; classic tc runs only if the chain ended with NEXT."""
    seen: list[str] = []
    if hook.run(seen, TCX_NEXT) == TCX_NEXT and classic is not None:
        classic(seen)
    return seen


def classic_filter(name: str, ret: int = TCX_PASS) -> Callable[[list[str]], int]:
    def run(ctx: list[str]) -> int:
        ctx.append(name)
        return ret

    return run
