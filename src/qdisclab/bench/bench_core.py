"""Core figures: the reference loop, the engine, packet-hops, memory per queued packet."""

from __future__ import annotations

import gc
import time
import tracemalloc
from heapq import heappop, heappush
from itertools import count
from typing import Any

from qdisclab.bench import Budget
from qdisclab.sim import Scheduler

# The same workload for the reference and the engine: 64 concurrent timers,
# each rescheduling itself after a delay from a fixed table.
_DELAYS = [(i * 7919) % 1000 + 1 for i in range(1024)]
_PROCS = 64
_REPEATS = 5


def _reference(n: int) -> float:
    heap: list[tuple[int, int, Any, int]] = []
    seq = count()
    state = [0, 0]  # [counter, now]

    def tick(arg: int) -> None:
        i = state[0] = state[0] + 1
        heappush(heap, (state[1] + _DELAYS[i & 1023], next(seq), tick, arg))

    for p in range(_PROCS):
        heappush(heap, (p, next(seq), tick, p))
    t0 = time.perf_counter()
    for _ in range(n):
        when, _s, fn, arg = heappop(heap)
        state[1] = when
        fn(arg)
    return n / (time.perf_counter() - t0)


def _engine(n: int) -> float:
    sched = Scheduler()
    state = [0]
    call_at = sched.call_at

    def tick(arg: int) -> None:
        i = state[0] = state[0] + 1
        call_at(sched.now + _DELAYS[i & 1023], tick, arg)

    for p in range(_PROCS):
        sched.call_at(p, tick, p)
    # 64 timers with a mean delay of ~500 ns make ~0.128 events per ns of
    # simulated time; run for the horizon that yields about n events and
    # count the events actually run.
    horizon = n * 1000 // 128
    t0 = time.perf_counter()
    sched.run(horizon)
    elapsed = time.perf_counter() - t0
    return state[0] / elapsed


def _best_interleaved(n: int) -> tuple[float, float]:
    """Best of several alternating runs of both loops, so machine noise hits both alike."""
    ref = eng = 0.0
    for _ in range(_REPEATS):
        ref = max(ref, _reference(n))
        eng = max(eng, _engine(n))
    return ref, eng


def reference_loop(budget: Budget) -> dict[str, Any]:
    """The bare loop and the engine, best of alternating runs of each (``_best_interleaved``)."""
    ref, eng = _best_interleaved(budget.scale(300_000))
    return {
        "reference_events_per_s": round(ref),
        "engine_events_per_s": round(eng),
        "engine_ratio": round(eng / ref, 3),
    }


def hops_against_reference(
    budget: Budget, build: Any, duration: int, repeats: int = 5
) -> tuple[float, float]:
    """Packet-hops/s of the world ``build()`` makes, and the ratio to the bare loop.

    The bare loop and the world take turns, ``repeats`` times (once with
    ``--quick``): the ratio is the best hop rate ÷ the best bare-loop rate of
    those same alternating runs, so a slow or fast minute on a shared machine
    hits both sides alike, as ``_best_interleaved`` does for the engine. Every
    turn builds a fresh world and runs it cold, as ``qdisclab run`` would. One
    packet crossing one link is one hop.
    """
    best_hops = best_ref = 0.0
    for _ in range(1 if budget.quick else repeats):
        gc.collect()  # the previous world is gone: the reference runs on a clean heap
        best_ref = max(best_ref, _reference(budget.scale(300_000)))
        world = build()
        gc.collect()
        t0 = time.perf_counter()
        world.run(duration)
        elapsed = time.perf_counter() - t0
        world.check_conservation()
        best_hops = max(best_hops, sum(dev.rx_packets for dev in world.devices.values()) / elapsed)
        del world
    return best_hops, best_hops / best_ref


def default_scenario_hops(budget: Budget) -> dict[str, Any]:
    """Packet-hops per second of the default UDP dumbbell and their ratio to the bare loop."""
    from qdisclab.traffic.dumbbell import UdpDumbbell

    duration = 200_000_000 if budget.quick else 4_000_000_000
    params = UdpDumbbell(duration_ns=duration)
    hops, ratio = hops_against_reference(budget, lambda: params.build(seed=1)[0], duration)
    return {"hops_per_s": round(hops), "hops_ratio": round(ratio, 3)}


def queued_packet_memory(budget: Budget) -> dict[str, Any]:
    """Bytes of memory per packet sitting in a pfifo queue (tracemalloc delta)."""
    from qdisclab.net import World
    from qdisclab.sched import create_qdisc
    from qdisclab.skb import IPPROTO_UDP, SkBuff

    n = 2_000 if budget.quick else 20_000
    world = World(seed=1)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "1gbit", "1ms", tx_queue_len=n)
    dev = link.a
    q = create_qdisc(f"pfifo limit {n}", dev)
    books = world.flow_books("mem")
    length, src, dst = 1500, a.addr, b.addr
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        skb = SkBuff(length, src, dst, 1000, 2000, IPPROTO_UDP, i * 1000, books)
        q.enqueue(skb)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert q.qlen == n
    return {"bytes_per_queued_packet": round((after - before) / n, 1)}


ROWS = [reference_loop, default_scenario_hops, queued_packet_memory]
