"""BPF execution figures: instructions per second of the interpreter and the translator.

Two workloads, each run on both engines in the same process:

* ``bpf_*_insns_per_s``: a checksum loop over 64 bytes of a map value
  (byte loads, ALU, a backward branch) — steady-state instruction speed;
* ``bpf_fifo_*_pairs_per_s``: a ring-buffer FIFO written in BPF assembly,
  one program run per enqueue and per dequeue as a BPF qdisc's callbacks
  are, next to the same FIFO written as plain Python
  (``bpf_fifo_translate_over_python``) and to the built-in ``pfifo`` driven
  through the qdisc layer as ``bench_qdiscs`` drives it
  (``bpf_fifo_translate_over_pfifo``). The programs run bare, with no qdisc
  layer, ownership checks or kfuncs around them, so the last ratio is an
  upper bound for the issue's target (translated BPF FIFO qdisc ≥ 0.2× pfifo),
  which is measured on the compiled FIFO object once it attaches as a qdisc.
"""

from __future__ import annotations

import time
from typing import Any

from qdisclab.bench import Budget
from qdisclab.bench.bench_qdiscs import _pairs_per_s as qdisc_pairs_per_s
from qdisclab.bpf.asm import assemble
from qdisclab.bpf.interp import Interpreter
from qdisclab.bpf.memory import BytesRegion, Memory
from qdisclab.bpf.resolver import TableResolver
from qdisclab.bpf.translate import Translated

ENGINES = {"interp": Interpreter, "translate": Translated}

CHECKSUM = """
    r0 = 2166136261
    r2 = 0
loop:
    r3 = r1
    r3 += r2
    r4 = *(u8 *)(r3 + 0)
    w0 ^= w4
    w0 *= 16777619
    r2 += 1
    if r2 < 64 goto loop
    exit
"""
CHECKSUM_INSNS = 2 + 64 * 7 + 1

# state: head u32 @0, tail u32 @4, qlen u32 @8, limit u32 @12, drops u64 @16,
# backlog u64 @24, ring of 64 u64 @32.
ENQUEUE = """
    r4 = *(u32 *)(r1 + 8)
    r5 = *(u32 *)(r1 + 12)
    if r4 >= r5 goto drop
    r6 = *(u32 *)(r1 + 4)
    r7 = r6
    r7 &= 63
    r7 <<= 3
    r7 += r1
    *(u64 *)(r7 + 32) = r2
    r6 += 1
    *(u32 *)(r1 + 4) = r6
    r4 += 1
    *(u32 *)(r1 + 8) = r4
    lock *(u64 *)(r1 + 24) += r3
    r0 = 0
    exit
drop:
    r2 = 1
    lock *(u64 *)(r1 + 16) += r2
    r0 = 1
    exit
"""
DEQUEUE = """
    r4 = *(u32 *)(r1 + 8)
    if r4 == 0 goto empty
    r5 = *(u32 *)(r1 + 0)
    r6 = r5
    r6 &= 63
    r6 <<= 3
    r6 += r1
    r0 = *(u64 *)(r6 + 32)
    r5 += 1
    *(u32 *)(r1 + 0) = r5
    r4 += -1
    *(u32 *)(r1 + 8) = r4
    exit
empty:
    r0 = 0
    exit
"""


class _PyFifo:
    """The same ring-buffer FIFO as plain Python, the speed to compare with."""

    __slots__ = ("backlog", "drops", "head", "limit", "qlen", "ring", "tail")

    def __init__(self, limit: int) -> None:
        self.head = self.tail = self.qlen = self.drops = self.backlog = 0
        self.limit = limit
        self.ring = [0] * 64

    def enqueue(self, skb: int, length: int) -> int:
        if self.qlen >= self.limit:
            self.drops += 1
            return 1
        self.ring[self.tail & 63] = skb
        self.tail += 1
        self.qlen += 1
        self.backlog += length
        return 0

    def dequeue(self) -> int:
        if not self.qlen:
            return 0
        skb = self.ring[self.head & 63]
        self.head += 1
        self.qlen -= 1
        return skb


def _best(fn: Any, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _checksum_insns_per_s(engine: str, runs: int) -> float:
    memory = Memory()
    addr = memory.map(BytesRegion("value", bytes(range(64))))
    prog = ENGINES[engine](assemble(CHECKSUM, name="checksum"), TableResolver(), memory)
    run = prog.run

    def work() -> None:
        for _ in range(runs):
            run(addr)

    return runs * CHECKSUM_INSNS / _best(work)


def _fifo_pairs_per_s(engine: str, pairs: int) -> float:
    memory = Memory()
    state = bytearray(32 + 8 * 64)
    state[12:16] = (48).to_bytes(4, "little")
    addr = memory.map(BytesRegion("fifo", state))
    resolver = TableResolver()
    enq = ENGINES[engine](assemble(ENQUEUE, name="enqueue"), resolver, memory).run
    deq = ENGINES[engine](assemble(DEQUEUE, name="dequeue"), resolver, memory).run

    def work() -> None:
        for i in range(pairs):
            enq(addr, i + 1, 1000)
            enq(addr, i + 2, 1000)
            deq(addr)
            deq(addr)

    return 2 * pairs / _best(work)


def _python_fifo_pairs_per_s(pairs: int) -> float:
    fifo = _PyFifo(48)
    enq, deq = fifo.enqueue, fifo.dequeue

    def work() -> None:
        for i in range(pairs):
            enq(i + 1, 1000)
            enq(i + 2, 1000)
            deq()
            deq()

    return 2 * pairs / _best(work)


def bpf_insns(budget: Budget) -> dict[str, Any]:
    runs = budget.scale(400)
    interp = _checksum_insns_per_s("interp", runs)
    translate = _checksum_insns_per_s("translate", runs)
    return {
        "bpf_interp_insns_per_s": round(interp),
        "bpf_translate_insns_per_s": round(translate),
        "bpf_translate_over_interp": round(translate / interp, 2),
    }


def bpf_fifo(budget: Budget) -> dict[str, Any]:
    pairs = budget.scale(20_000)
    interp = _fifo_pairs_per_s("interp", pairs)
    translate = _fifo_pairs_per_s("translate", pairs)
    python = _python_fifo_pairs_per_s(pairs)
    pfifo = qdisc_pairs_per_s("pfifo limit 20000", 10, pairs)
    return {
        "bpf_fifo_interp_pairs_per_s": round(interp),
        "bpf_fifo_translate_pairs_per_s": round(translate),
        "bpf_fifo_python_pairs_per_s": round(python),
        "bpf_fifo_translate_over_python": round(translate / python, 3),
        "bpf_fifo_translate_over_pfifo": round(translate / pfifo, 3),
    }


ROWS = [bpf_insns, bpf_fifo]
