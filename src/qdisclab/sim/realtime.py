"""A wall-clock scheduler with the virtual scheduler's interface (``EventScheduler``).

``now`` is nanoseconds of ``time.monotonic_ns()`` since the scheduler was
created. Besides timers it waits on file descriptors (``add_reader``), so a
live mode can drive TUN devices or sockets with everything above the
scheduler unchanged.

A timer callback sees ``now`` equal to the time it was scheduled for (never
less than the ``now`` an earlier callback saw), not the instant the OS woke
the process: a device serialising packets back to back then keeps its wire
clock exact however late each wake-up is, so a shaped rate is the configured
rate rather than the rate minus the timer lateness. A reader callback sees the
wall clock, so arrivals are stamped when they happen.

>>> rt = RealtimeScheduler()
>>> hits = []
>>> _ = rt.call_later(1_000_000, hits.append, "tick")   # 1 ms
>>> rt.run(until=50_000_000)
>>> hits
['tick']
"""

from __future__ import annotations

import selectors
import time
from collections.abc import Callable
from heapq import heappop, heappush
from typing import TYPE_CHECKING, TypeVar, cast, overload

from qdisclab.sim.scheduler import Callback, Event, Line, next_seq

if TYPE_CHECKING:
    from qdisclab.sim.tracepoint import Tracepoint

T = TypeVar("T")


class RealtimeScheduler:
    """Runs callbacks at wall-clock times and when file descriptors become readable."""

    def __init__(self) -> None:
        self._t0 = time.monotonic_ns()
        self.now = 0
        self.heap: list[Event] = []
        self.lines: list[Line] = []  # as the simulated scheduler's (events_run counts)
        self.tracepoints: dict[str, Tracepoint[...]] = {}  # this run's (sim/tracepoint.py)
        self._cancelled: set[object] = set()  # sequence numbers of cancelled entries in the heap
        self._selector = selectors.DefaultSelector()
        # Called before every wait for timers or fds, and when run returns: a reader that
        # batches its output (a writer thread fed once per wake-up) hands it over here.
        self.before_wait: list[Callable[[], None]] = []
        self._stopping = False
        self.events_run = 0
        self.max_lateness = 0  # ns: the latest a timer ever ran after its time

    def clock(self) -> int:
        """The wall clock in scheduler ns (``now`` is the time callbacks see)."""
        return time.monotonic_ns() - self._t0

    @overload
    def call_at(self, when: int, callback: Callable[[None], object]) -> Event: ...
    @overload
    def call_at(self, when: int, callback: Callable[[T], object], arg: T) -> Event: ...
    def call_at(self, when: int, callback: Callable[..., object], arg: object = None) -> Event:
        entry: Event = (when, next_seq(), callback, arg)
        heappush(self.heap, entry)
        return entry

    @overload
    def call_later(self, delay: int, callback: Callable[[None], object]) -> Event: ...
    @overload
    def call_later(self, delay: int, callback: Callable[[T], object], arg: T) -> Event: ...
    def call_later(self, delay: int, callback: Callable[..., object], arg: object = None) -> Event:
        entry: Event = (self.now + delay, next_seq(), callback, arg)
        heappush(self.heap, entry)
        return entry

    def cancel(self, entry: Event) -> None:
        self._cancelled.add(entry[1])
        if len(self._cancelled) > len(self.heap):  # some ran before they were cancelled
            self._cancelled.intersection_update([e[1] for e in self.heap])

    def is_pending(self, entry: Event | None) -> bool:
        return entry is not None and entry[1] not in self._cancelled

    def advance(self) -> int:
        """Run the timers that fell due, then move ``now`` up to the wall clock; the new ``now``.

        A reader handling a batch of arrivals calls it per arrival, so each is
        stamped when it was read rather than when the batch began, and the
        wire (transmit-done and delay-line timers) keeps moving meanwhile.
        """
        now = time.monotonic_ns() - self._t0
        heap = self.heap
        if heap and heap[0][0] <= now:
            self._run_due(now)
        if now > self.now:
            self.now = now
        return self.now

    @overload
    def add_reader(self, fd: int, callback: Callable[[None], object]) -> None: ...
    @overload
    def add_reader(self, fd: int, callback: Callable[[T], object], arg: T) -> None: ...
    def add_reader(self, fd: int, callback: Callable[..., object], arg: object = None) -> None:
        """Call ``callback(arg)`` whenever ``fd`` is readable."""
        reader: tuple[Callback, object] = (callback, arg)
        self._selector.register(fd, selectors.EVENT_READ, reader)

    def remove_reader(self, fd: int) -> None:
        self._selector.unregister(fd)

    def stop(self) -> None:
        self._stopping = True

    def run(self, until: int | None = None) -> None:
        """Dispatch timers and readable fds until ``until`` ns (or until stopped / idle).

        Timers that are due run before the readers of the same wake-up, so a
        reader never sees a ``now`` past a timer that has not run yet.
        """
        heap = self.heap
        clock = self.clock
        select = self._selector.select
        run_due = self._run_due
        self._stopping = False
        self.now = max(self.now, clock())
        while not self._stopping:
            now = clock()
            run_due(now)
            if self._stopping or (until is not None and now >= until):
                break
            if not heap and not self._selector.get_map():
                break  # nothing can ever happen again
            deadline = heap[0][0] if heap else None
            if until is not None and (deadline is None or until < deadline):
                deadline = until
            timeout = None if deadline is None else max(0.0, (deadline - clock()) / 1e9)
            for hook in self.before_wait:
                hook()
            ready = select(timeout)
            if ready:
                run_due(clock())
                for key, _mask in ready:
                    reader: tuple[Callback, object] = key.data
                    callback, arg = reader
                    now = clock()
                    if now > self.now:
                        self.now = now
                    self.events_run += 1
                    callback(arg)
        for hook in self.before_wait:
            hook()
        self.now = max(self.now, clock())

    def _run_due(self, now: int) -> None:
        """Run every timer due at ``now``, each seeing its own scheduled time."""
        heap = self.heap
        cancelled = self._cancelled
        while heap and heap[0][0] <= now:
            # The entry stays on top while its callback runs, as in Scheduler.run (a
            # callback may put its successor in its place: replace_entry).
            # compared by identity below: read as an object (compiled, a tuple-typed read
            # is a copy), and once more as its fields
            entry: object = cast("list[object]", heap)[0]
            when, seq, callback, arg = heap[0]
            if cancelled and seq in cancelled:
                cancelled.remove(seq)
                heappop(heap)
                continue
            if when > self.now:
                self.now = when
            if now - when > self.max_lateness:
                self.max_lateness = now - when
            self.events_run += 1
            try:
                callback(arg)
            finally:
                if heap and heap[0] is entry:  # not replaced by its successor
                    heappop(heap)
