"""The discrete-event scheduler: a heap of event entries, integer-ns time.

Modelled on asyncio's loop (a heap of timer handles, cancellation by flag)
but cut down for speed: an event is a plain list ``[when, seq, callback,
arg]``. Lists compare by ``when`` then by the unique ``seq``, so events with
equal times run in the order they were scheduled and callbacks are never
compared. Cancelling clears the callback slot in O(1); the dead entry is
skipped when it reaches the top of the heap.

>>> sched = Scheduler()
>>> seen = []
>>> _ = sched.call_at(20, seen.append, "b")
>>> ev = sched.call_at(10, seen.append, "x")
>>> _ = sched.call_at(10, seen.append, "a")
>>> sched.cancel(ev)
>>> sched.run()
>>> seen, sched.now
(['a', 'b'], 20)
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from itertools import count
from typing import Any

Event = list  # [when: int, seq: int, callback | None, arg]

_WHEN, _SEQ, _CALLBACK, _ARG = 0, 1, 2, 3

# One process-wide sequence: within any scheduler it still increases in
# scheduling order (gaps do not matter), and a global is cheaper to reach.
_next_seq = count().__next__


class _StopRun(Exception):
    """Raised by the stop sentinel to leave the run loop without a per-event check."""


class Scheduler:
    """Virtual-time event scheduler. ``now`` is the current time in ns."""

    __slots__ = ("_heap", "events", "now", "tracepoints")

    def __init__(self) -> None:
        self.now: int = 0
        self.events = 0  # events executed so far (cancelled entries not counted)
        self._heap: list[Event] = []
        self.tracepoints: dict[str, Any] = {}  # this run's tracepoint instances (sim/tracepoint.py)

    def call_at(self, when: int, callback: Callable[[Any], Any], arg: Any = None) -> Event:
        """Run ``callback(arg)`` at absolute time ``when`` (ns); returns a cancellable entry."""
        entry = [when, _next_seq(), callback, arg]
        heappush(self._heap, entry)
        return entry

    def call_later(self, delay: int, callback: Callable[[Any], Any], arg: Any = None) -> Event:
        """Run ``callback(arg)`` ``delay`` ns from now."""
        entry = [self.now + delay, _next_seq(), callback, arg]
        heappush(self._heap, entry)
        return entry

    @staticmethod
    def cancel(entry: Event) -> None:
        """Cancel a scheduled entry in O(1); cancelling twice is harmless."""
        entry[_CALLBACK] = None

    @staticmethod
    def is_pending(entry: Event | None) -> bool:
        return entry is not None and entry[_CALLBACK] is not None

    def next_time(self) -> int | None:
        """Time of the earliest live entry, or None when nothing is scheduled."""
        heap = self._heap
        while heap and heap[0][_CALLBACK] is None:
            heappop(heap)
        return heap[0][_WHEN] if heap else None

    def run(self, until: int | None = None) -> None:
        """Run events in time order until the heap is empty or time ``until`` is reached.

        Events scheduled exactly at ``until`` run; the clock ends at ``until``.
        """
        heap = self._heap
        stop = None
        if until is not None:
            # A sentinel scheduled after every event at `until` (it is pushed
            # last among equal times only if nothing else is pushed later at
            # the same time, so give it the largest possible sequence instead).
            stop = [until, float("inf"), _raise_stop, None]
            heappush(heap, stop)
        # Events are counted from the heap, not per event: every entry popped was pushed
        # (the sequence counter says how many were) or was there at the start; the
        # cancelled ones popped and the stop sentinel are taken off at the end.
        first_seq, queued, skipped, stopped = _next_seq(), len(heap), 0, False
        try:
            while True:
                when, _seq, callback, arg = heappop(heap)
                if callback is None:
                    skipped += 1
                    continue
                self.now = when
                callback(arg)
        except IndexError:
            if heap:  # an IndexError from inside a callback, not from an empty heap
                raise
        except _StopRun:
            stopped = True  # the stop sentinel is not an event of the run
        finally:
            pushed = _next_seq() - first_seq - 1
            self.events += queued + pushed - len(heap) - skipped - stopped
            if stop is not None:
                stop[_CALLBACK] = None
        if until is not None and self.now < until:
            self.now = until


def _raise_stop(_arg: object) -> None:
    raise _StopRun


class Timer:
    """A restartable one-shot timer (the kernel's hrtimer / timer_list).

    Re-arming to a *later* time does not touch the heap: the pending entry
    fires, sees the new expiry and re-queues itself (the lazy re-arm that
    makes per-ACK RTO restarts cheap). Re-arming earlier cancels and requeues.

    >>> sched = Scheduler()
    >>> fired = []
    >>> t = Timer(sched, lambda arg: fired.append(sched.now))
    >>> t.arm(100); t.arm(300); t.arm(50)
    >>> sched.run(); fired
    [50]
    """

    __slots__ = ("_arg", "_callback", "_entry", "_sched", "expires")

    def __init__(self, sched: Scheduler, callback: Callable[[Any], Any], arg: Any = None) -> None:
        self._sched = sched
        self._callback = callback
        self._arg = arg
        self._entry: Event | None = None
        self.expires: int | None = None  # None = not armed

    @property
    def pending(self) -> bool:
        return self.expires is not None

    def arm(self, when: int) -> None:
        """Arm (or re-arm) the timer to fire at absolute time ``when``."""
        self.expires = when
        entry = self._entry
        if entry is not None and entry[_CALLBACK] is not None:
            if entry[_WHEN] <= when:
                return  # the earlier entry will re-queue itself on firing
            entry[_CALLBACK] = None
        self._entry = self._sched.call_at(when, self._fire, None)

    def arm_later(self, delay: int) -> None:
        self.arm(self._sched.now + delay)

    def cancel(self) -> None:
        self.expires = None
        entry = self._entry
        if entry is not None:
            entry[_CALLBACK] = None
            self._entry = None

    def _fire(self, _arg: object) -> None:
        expires = self.expires
        if expires is None:
            return
        if expires > self._sched.now:
            self._entry = self._sched.call_at(expires, self._fire, None)
            return
        self._entry = None
        self.expires = None
        self._callback(self._arg)
