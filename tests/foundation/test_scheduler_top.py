"""The running entry stays on top of the heap until its callback returns.

A callback may put its successor in its place (``replace_entry``); the run
loop takes off only an entry still on top, and never runs one twice.
"""

from __future__ import annotations

import pytest

from qdisclab.sim import Scheduler
from qdisclab.sim.scheduler import next_seq, replace_entry


def test_an_entry_that_ran_is_taken_off_and_never_runs_again():
    # Compiled, an entry read as a tuple is a copy: the loop must still know its own entry
    # (else it runs the same one again and again, and a run never ends).
    sched = Scheduler()
    runs: list[object] = []

    def once(tag: object) -> None:
        assert tag not in runs, f"entry {tag} ran twice"
        runs.append(tag)

    for when, tag in ((0, "a"), (0, "b"), (7, "c")):
        sched.call_at(when, once, tag)
    sched.run()
    assert runs == ["a", "b", "c"] and sched.events == 3 and not sched.heap


def test_a_successor_put_in_the_running_entrys_place_runs_in_time_order():
    sched = Scheduler()
    seen: list[tuple[int, str]] = []

    def tick(n: object) -> None:
        seen.append((sched.now, f"tick{n}"))
        assert isinstance(n, int)
        if n < 3:
            replace_entry(sched.heap, (sched.now + 10, next_seq(), tick, n + 1))

    sched.call_at(0, tick, 0)
    for when in (5, 10, 25):  # 10: scheduled before tick1 was, so it runs first
        sched.call_at(when, lambda w: seen.append((sched.now, f"other{w}")), when)
    sched.run()
    assert seen == [(0, "tick0"), (5, "other5"), (10, "other10"), (10, "tick1"),
                    (20, "tick2"), (25, "other25"), (30, "tick3")]  # fmt: skip
    assert sched.events == 7 and not sched.heap


def test_a_callback_that_raises_has_run_and_does_not_run_again():
    sched = Scheduler()
    seen: list[str] = []

    def boom(_arg: object) -> None:
        seen.append("boom")
        sched.call_at(sched.now + 1, seen.append, "after")  # scheduled before it raised
        raise RuntimeError("boom")

    sched.call_at(1, boom, None)
    sched.call_at(2, seen.append, "later")
    with pytest.raises(RuntimeError):
        sched.run(until=100)
    assert seen == ["boom"] and len(sched.heap) == 2  # the stop sentinel went too
    sched.run()
    assert seen == ["boom", "later", "after"] and sched.events == 3 and not sched.heap


def test_an_index_error_from_a_callback_is_raised_and_its_entry_is_gone():
    sched = Scheduler()
    calls: list[int] = []

    def bad(_arg: object) -> None:
        calls.append(sched.now)
        raise IndexError("from the callback")

    sched.call_at(3, bad, None)
    sched.call_at(4, calls.append, 4)
    with pytest.raises(IndexError, match="from the callback"):
        sched.run()
    sched.run()
    assert calls == [3, 4] and sched.events == 2
