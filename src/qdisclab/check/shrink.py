"""Shrinking a failing sequence to a short one that fails the same way.

Greedy and deterministic, with a budget of replays: drop chunks of
operations (halves, quarters ... single ones), then simplify what is left
(a burst to the smallest size that still fails and to one flow, a time step
to the shortest, packet fields to their defaults). A candidate is kept only
if it fails with the same category of finding, so shrinking never trades
the problem found for another.

>>> fails = lambda ops: "x" if ("burst", 9, 64, 1, 0, 0, 0) in ops else None
>>> shrink([("advance", 5), ("burst", 9, 64, 1, 0, 0, 0), ("dequeue",)], fails, {64: [1, 9]}, [5])
[('burst', 9, 64, 1, 0, 0, 0)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from qdisclab.check.finding import Finding
from qdisclab.check.trace import Op

BUDGET = 300  # replays at most


def shrink(
    ops: list[Op],
    category_of: Callable[[list[Op]], str | None],
    sizes: dict[int, list[int]],
    steps: list[int],
    budget: int = BUDGET,
) -> list[Op]:
    """The shortest, simplest ``ops`` found that ``category_of`` still maps to the same category."""
    want = category_of(ops)
    left = budget

    def still_fails(candidate: list[Op]) -> bool:
        nonlocal left
        left -= 1
        return category_of(candidate) == want

    changed = True
    while changed and left > 0:
        changed = False
        chunk = max(len(ops) // 2, 1)
        while chunk >= 1 and left > 0:  # drop chunks, large first
            i = 0
            while i < len(ops) and left > 0:
                candidate = ops[:i] + ops[i + chunk :]
                if candidate and still_fails(candidate):
                    ops, changed = candidate, True
                else:
                    i += chunk
            chunk //= 2
        for i in range(len(ops)):  # simplify each operation
            for simpler in _simpler(ops[i], sizes, steps):
                if left <= 0:
                    break
                candidate = [*ops[:i], simpler, *ops[i + 1 :]]
                if still_fails(candidate):
                    ops, changed = candidate, True
                    break
    return ops


def _simpler(op: Op, sizes: dict[int, list[int]], steps: list[int]) -> Iterator[Op]:
    """Simpler variants of ``op``, simplest first."""
    name = op[0]
    if name == "burst":
        _, count, length, flows, prio, tstamp, ecn = op
        if prio or tstamp or ecn:
            yield ("burst", count, length, flows, 0, 0, 0)
        if flows != 1:
            yield ("burst", count, length, 1, prio, tstamp, ecn)
        for smaller in sizes.get(length, []):
            if smaller >= count:
                break
            yield ("burst", smaller, length, flows, prio, tstamp, ecn)
        if count == 1:
            yield ("enqueue", length, 0, prio, 0, tstamp, ecn)
    elif name == "enqueue":
        _, length, flow, prio, mark, tstamp, ecn = op
        if flow or prio or mark or tstamp or ecn:
            yield ("enqueue", length, 0, 0, 0, 0, 0)
    elif name == "advance":
        for shorter in steps:
            if shorter >= op[1]:
                break
            yield ("advance", shorter)
    elif name == "drain" and op[1] > 1:
        yield ("dequeue",)


def first_failure(
    draw: Callable[[], list[Op]],
    run: Callable[[list[Op], bool], Finding | None],
    examples: int,
    line: Callable[[Op], str],
    budget: int = 60,
) -> Finding | None:
    """Run ``examples`` drawn sequences; the first failure, shrunk, its trace written by ``line``.

    ``run(ops, counted)``: ``counted`` is true for the drawn sequences only, so coverage
    counts what was explored, not the replays of shrinking.
    """
    for _ in range(examples):
        ops = draw()
        if run(ops, True) is None:
            continue

        def category_of(candidate: list[Op]) -> str | None:
            found = run(candidate, False)
            return None if found is None else found.category

        ops = shrink(ops, category_of, {}, [], budget=budget)
        finding = run(ops, False)
        assert finding is not None  # shrinking keeps only failing candidates
        finding.trace = [line(op) for op in ops]
        return finding
    return None
