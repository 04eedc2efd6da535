"""The event engine: ordering, cancellation, timers, RNG streams, real-time clock."""

from __future__ import annotations

import os

import pytest

from qdisclab.sim import RealtimeScheduler, RngStreams, Scheduler, Timer


def test_events_run_in_time_order_and_fifo_for_equal_times():
    sched = Scheduler()
    seen = []
    for when, tag in [(30, "c"), (10, "a1"), (20, "b"), (10, "a2"), (10, "a3")]:
        sched.call_at(when, seen.append, tag)
    sched.run()
    assert seen == ["a1", "a2", "a3", "b", "c"]
    assert sched.now == 30


def test_cancel_is_by_flag_and_skipped():
    sched = Scheduler()
    seen = []
    keep = sched.call_at(5, seen.append, "keep")
    drop = sched.call_at(3, seen.append, "drop")
    sched.cancel(drop)
    sched.cancel(drop)  # twice is harmless
    assert sched.is_pending(keep) and not sched.is_pending(drop)
    sched.run()
    assert seen == ["keep"]


def test_run_until_stops_after_events_at_that_time_and_sets_clock():
    sched = Scheduler()
    seen = []
    for t in (5, 10, 10, 15):
        sched.call_at(t, seen.append, t)
    sched.run(until=10)
    assert seen == [5, 10, 10]
    assert sched.now == 10
    sched.run(until=12)
    assert sched.now == 12 and seen == [5, 10, 10]
    sched.run()
    assert seen == [5, 10, 10, 15]


def test_events_scheduled_from_callbacks_at_the_stop_time_still_run():
    sched = Scheduler()
    seen = []

    def first(_):
        sched.call_at(sched.now, seen.append, "same-time")

    sched.call_at(7, first, None)
    sched.run(until=7)
    assert seen == ["same-time"]


def test_exception_in_callback_propagates():
    sched = Scheduler()

    def boom(_):
        raise IndexError("inside a callback")

    sched.call_at(1, boom, None)
    sched.call_at(2, print, None)
    with pytest.raises(IndexError, match="inside a callback"):
        sched.run()


def test_timer_lazy_rearm_later_fires_once_at_latest_time():
    sched = Scheduler()
    fired = []
    timer = Timer(sched, lambda _: fired.append(sched.now))
    timer.arm(100)
    timer.arm(300)  # later: no new heap entry, the first re-queues itself
    assert len(sched.heap) == 1
    sched.run()
    assert fired == [300]
    assert not timer.pending


def test_timer_rearm_earlier_and_cancel():
    sched = Scheduler()
    fired = []
    timer = Timer(sched, lambda _: fired.append(sched.now))
    timer.arm(100)
    timer.arm(40)
    sched.run(until=50)
    assert fired == [40]
    timer.arm(200)
    timer.cancel()
    sched.run()
    assert fired == [40]


def test_rng_streams_are_independent_and_reproducible():
    a1 = [RngStreams(5).stream("a").random() for _ in range(1)]
    streams = RngStreams(5)
    streams.stream("b").random()  # using another stream first changes nothing for "a"
    assert streams.stream("a").random() == a1[0]
    assert RngStreams(6).stream("a").random() != a1[0]
    assert RngStreams(5).derive_int("x") == RngStreams(5).derive_int("x")


def test_realtime_scheduler_runs_timers_and_fd_readers():
    rt = RealtimeScheduler()
    read_fd, write_fd = os.pipe()
    got = []

    def on_readable(_):
        got.append(os.read(read_fd, 100))
        rt.remove_reader(read_fd)

    rt.add_reader(read_fd, on_readable)
    rt.call_later(2_000_000, lambda _: os.write(write_fd, b"hi"))
    rt.call_later(300_000_000, got.append, "timer")  # far after the write
    rt.run(until=2_000_000_000)
    os.close(read_fd)
    os.close(write_fd)
    assert got == [b"hi", "timer"]
    assert rt.now >= 300_000_000


def test_events_counts_what_ran_not_what_was_cancelled_or_the_stop():
    sched = Scheduler()
    ran = []

    def chain(n):
        ran.append(n)
        if n < 5:
            sched.call_later(10, chain, n + 1)  # pushed inside the run

    sched.call_at(0, chain, 1)
    dead = sched.call_at(5, ran.append, "cancelled")
    sched.cancel(dead)
    sched.run(until=25)  # runs 1, 2, 3 (t = 0, 10, 20); the cancelled one and the stop don't count
    assert ran == [1, 2, 3] and sched.events == 3
    sched.run()
    assert ran == [1, 2, 3, 4, 5] and sched.events == 5


def test_events_counts_an_event_whose_callback_raised():
    sched = Scheduler()

    def boom(_):
        raise ValueError("x")

    sched.call_at(1, lambda _: None)
    sched.call_at(2, boom)
    sched.call_at(3, lambda _: None)
    with pytest.raises(ValueError):
        sched.run()
    assert sched.events == 2
    sched.run()
    assert sched.events == 3


def test_cancelling_entries_that_already_ran_leaves_no_dead_marks_behind():
    sched = Scheduler()
    done = [sched.call_at(t, lambda _: None) for t in range(10)]
    sched.run()
    live = sched.call_at(100, lambda _: None)
    for entry in done:
        sched.cancel(entry)  # too late: each ran, nothing is skipped later
    assert len(sched._cancelled) <= 1  # marks only entries that are still in the heap
    sched.cancel(live)
    sched.run()
    assert sched.events == 10 and not sched._cancelled


def test_a_callback_raising_under_run_until_leaves_no_stop_sentinel_behind():
    sched = Scheduler()
    ran = []

    def boom(_):
        raise ValueError("x")

    sched.call_at(10, boom)
    sched.call_at(20, ran.append, "after")
    with pytest.raises(ValueError):
        sched.run(until=50)
    sched.run(until=100)  # a second sentinel: the first must not still be queued
    assert ran == ["after"] and sched.events == 2 and sched.now == 100
    assert sched.next_time() is None


def test_timer_rearmed_earlier_runs_its_callback_once():
    sched = Scheduler()
    fired = []
    timer = Timer(sched, lambda _: fired.append(sched.now))
    timer.arm(100)
    timer.arm(50)  # the entry at 100 is cancelled, not left to fire a second time
    sched.run()
    assert fired == [50] and sched.events == 1
