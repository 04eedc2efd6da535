"""Micro-benchmark of the mprog control path, for the benchmark suite.

>>> sorted(bench_mprog(loops=10))
['mprog_attach_detach_per_s', 'mprog_query_per_s']
"""

from __future__ import annotations

import time

from .constants import BPF_F_BEFORE, BPF_TCX_INGRESS
from .hook import MprogHook
from .objects import BpfObjects


def bench_mprog(loops: int = 20_000, depth: int = 8) -> dict[str, float]:
    """Operations per second on a hook already holding ``depth`` programs.

    One attach/detach op is a BEFORE-relative attach plus the detach of the
    same program (both rebuild the fast-path tuple); one query op is a full
    BPF_PROG_QUERY with id arrays.
    """
    objs = BpfObjects()
    hook = MprogHook(objs, BPF_TCX_INGRESS)
    base = [objs.program(lambda ctx: -1, name=f"b{i}") for i in range(depth)]
    for prog in base:
        hook.prog_attach(prog)
    extra = objs.program(lambda ctx: -1, name="extra")
    anchor = base[depth // 2]

    start = time.perf_counter()
    for _ in range(loops):
        hook.prog_attach(extra, BPF_F_BEFORE, anchor)
        hook.prog_detach(extra)
    attach_detach = loops / (time.perf_counter() - start)

    start = time.perf_counter()
    for _ in range(loops):
        hook.prog_query()
    query = loops / (time.perf_counter() - start)
    return {"mprog_attach_detach_per_s": attach_detach, "mprog_query_per_s": query}
