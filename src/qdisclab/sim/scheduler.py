"""The discrete-event scheduler: a heap of event entries, integer-ns time.

Modelled on asyncio's loop (a heap of timer handles, cancellation by flag)
but cut down for speed: an event is a plain tuple ``(when, seq, callback,
arg)`` (``Event``). Tuples compare by ``when`` then by the unique ``seq``, so
events with equal times run in the order they were scheduled and callbacks
are never compared. Cancelling records the entry's ``seq`` in a set, O(1);
the dead entry is skipped when it reaches the top of the heap. In pure Python
a tuple costs less to build than a list or any class instance, and the
cancelled set is empty (one truth test per event) nearly all the time.

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

from collections import deque
from collections.abc import Callable
from heapq import heapify, heappop, heappush, heapreplace
from itertools import count
from typing import TYPE_CHECKING, Final, TypeVar, cast, overload

if TYPE_CHECKING:
    from qdisclab.sim.realtime import RealtimeScheduler
    from qdisclab.sim.tracepoint import Tracepoint

T = TypeVar("T")

#: What the heap holds for one callback: ``callback(arg)`` runs at ``when``. The pairing of
#: a callback with an argument of its own type is checked where the entry is made
#: (``call_at``'s type variable); inside the heap both are erased to ``object``.
Callback = Callable[[object], object]
#: ``(when, seq, callback, arg)``. ``seq`` is an int from ``next_seq``, typed ``object``
#: because nothing but the heap's tuple comparison and the cancelled set looks at it:
#: compiled code then passes the counter's int along instead of unboxing and re-boxing it.
Event = tuple[int, object, Callback, object]

#: The next entry's sequence number. One process-wide sequence, shared by both schedulers:
#: within any scheduler it still increases in scheduling order (gaps do not matter), and
#: a global is cheaper to reach.
next_seq: Final[Callable[[], object]] = count().__next__

#: A wire's FIFO of entries held back from the heap (net/channel.py): each an ``Event``,
#: kept as the very object made, since it only ever goes back into the heap.
Line = deque[object]

#: ``heappush`` for an entry already made: compiled code passes the one tuple it built
#: (an ``object``), where an ``Event``-typed value would be re-boxed into a new tuple at
#: every use; ``Final``, so compiled callers reach it without a module-dict lookup.
push_entry: Final[Callable[[list[Event], object], None]] = cast(
    "Callable[[list[Event], object], None]", heappush
)

#: ``heapreplace`` for a running callback's successor: while a callback runs, its own
#: entry is the heap's top (``Scheduler.run`` takes it off only afterwards, if it is
#: still there), so a callback that schedules its successor there (a wire's next
#: arrival, a source's next send) replaces the top in one sift instead of a push and
#: the run loop's pop. Only for a callback run by a scheduler's loop.
replace_entry: Final[Callable[[list[Event], object], object]] = cast(
    "Callable[[list[Event], object], object]", heapreplace
)

#: The stop sentinel's sequence: after every real entry scheduled at the same time.
_LAST_SEQ: Final = 1 << 62


class _StopRun(Exception):
    """Raised by the stop sentinel to leave the run loop without a per-event check."""


class Scheduler:
    """Virtual-time event scheduler. ``now`` is the current time in ns."""

    __slots__ = ("_cancelled", "events", "heap", "lines", "now", "tracepoints")

    def __init__(self) -> None:
        self.now: int = 0
        self.events: int = 0  # events executed so far (cancelled entries not counted)
        # The entries, a ``heapq`` heap. A per-packet path pushes onto it directly:
        # ``heappush(sched.heap, (when, next_seq(), callback, arg))`` is ``call_at``
        # without the call.
        self.heap: list[Event] = []
        # FIFO lines of entries held back from the heap (a wire's packets, see
        # net/channel.py): only each line's head is in the heap, and the one who
        # runs it pushes the next. Their entries are counted as pending.
        self.lines: list[Line] = []
        # Sequence numbers of cancelled entries still in the heap.
        self._cancelled: set[object] = set()
        # This run's tracepoint instances (sim/tracepoint.py), by name.
        self.tracepoints: dict[str, Tracepoint[...]] = {}

    @overload
    def call_at(self, when: int, callback: Callable[[None], object]) -> Event: ...
    @overload
    def call_at(self, when: int, callback: Callable[[T], object], arg: T) -> Event: ...
    def call_at(self, when: object, callback: Callable[..., object], arg: object = None) -> object:
        """Run ``callback(arg)`` at absolute time ``when`` (ns); returns a cancellable entry."""
        # Typed object here (the overloads say int and Event): compiled, the caller's int
        # goes into the tuple as it is, and the one tuple made is the one returned.
        entry: object = (when, next_seq(), callback, arg)
        push_entry(self.heap, entry)
        return entry

    @overload
    def call_later(self, delay: int, callback: Callable[[None], object]) -> Event: ...
    @overload
    def call_later(self, delay: int, callback: Callable[[T], object], arg: T) -> Event: ...
    def call_later(self, delay: int, callback: Callable[..., object], arg: object = None) -> object:
        """Run ``callback(arg)`` ``delay`` ns from now."""
        entry: object = (self.now + delay, next_seq(), callback, arg)  # as in call_at
        push_entry(self.heap, entry)
        return entry

    def cancel(self, entry: Event) -> None:
        """Cancel a scheduled entry in O(1); cancelling twice, or after it ran, is harmless."""
        cancelled = self._cancelled
        cancelled.add(entry[1])
        if len(cancelled) > len(self.heap):
            # Some were cancelled after they ran and will never be popped: forget those.
            cancelled.intersection_update([e[1] for e in self.heap])

    def is_pending(self, entry: Event | None) -> bool:
        """Whether ``entry`` was made and not cancelled (as asyncio's handles, one that ran counts)."""
        return entry is not None and entry[1] not in self._cancelled

    def next_time(self) -> int | None:
        """Time of the earliest live entry, or None when nothing is scheduled."""
        heap = self.heap
        cancelled = self._cancelled
        while heap and heap[0][1] in cancelled:
            cancelled.discard(heappop(heap)[1])
        return heap[0][0] if heap else None

    def run(self, until: int | None = None) -> None:
        """Run events in time order until the heap is empty or time ``until`` is reached.

        Events scheduled exactly at ``until`` run; the clock ends at ``until``.
        """
        heap = self.heap
        cancelled = self._cancelled
        pop = heappop
        stop: Event | None = None
        if until is not None:
            # A sentinel that runs after every event at `until`: the largest sequence.
            stop = (until, _LAST_SEQ, _raise_stop, None)
            heappush(heap, stop)
        # Events are counted from the heap, not per event: every entry popped was made
        # (the sequence counter says how many were) or was pending at the start; the
        # ones still pending, the cancelled ones popped and the stop sentinel are taken
        # off at the end.
        first_seq = cast(int, next_seq())
        queued = len(heap) + self._held()
        skipped = 0
        stopped = 0
        # The heap seen as plain objects: the top is compared by identity, and compiled, an
        # entry typed as a tuple is unboxed on reading and boxed anew, never itself.
        entries = cast("list[object]", heap)
        entry: object = None
        try:
            while True:
                # The entry stays on top while its callback runs (see replace_entry):
                # every entry scheduled meanwhile sorts after it.
                entry = entries[0]
                when, seq, callback, arg = heap[0]  # the same entry, read as its fields
                if cancelled and seq in cancelled:
                    cancelled.remove(seq)
                    skipped += 1
                    pop(heap)
                    continue
                self.now = when
                callback(arg)
                if entries[0] is entry:  # not replaced by its successor
                    pop(heap)
        except IndexError:
            if heap:  # an IndexError from inside a callback, not from an empty heap
                if entries[0] is entry:
                    pop(heap)
                raise
        except _StopRun:
            stopped = 1  # the stop sentinel is not an event of the run
            pop(heap)
        except BaseException:
            if heap and entries[0] is entry:  # left by a callback's exception: it has run
                pop(heap)
            raise
        finally:
            pushed = cast(int, next_seq()) - first_seq - 1
            if stop is not None and not stopped:
                # Left by an exception from a callback: take the sentinel out of the heap.
                heap.remove(stop)
                heapify(heap)
                queued -= 1
            self.events += queued + pushed - len(heap) - self._held() - skipped - stopped
        if until is not None and self.now < until:
            self.now = until

    def _held(self) -> int:
        """Entries waiting in lines behind their head (not in the heap)."""
        held = 0
        for line in self.lines:
            if line:
                held += len(line) - 1
        return held


def _raise_stop(_arg: object) -> None:
    raise _StopRun


class Timer:
    """A restartable one-shot timer (the kernel's hrtimer / timer_list).

    Re-arming to a *later* time does not touch the heap: the pending entry
    fires, sees the new expiry and re-queues itself (the lazy re-arm that
    makes per-ACK RTO restarts cheap). Re-arming earlier cancels and requeues.

    >>> sched = Scheduler()
    >>> fired = []
    >>> t = Timer(sched, lambda _arg: fired.append(sched.now))
    >>> t.arm(100); t.arm(300); t.arm(50)
    >>> sched.run(); fired
    [50]
    """

    __slots__ = ("_callback", "_entry", "_fire_cb", "_sched", "expires")

    # Either clock: a live run's qdisc watchdogs arm timers on the wall-clock scheduler.
    def __init__(
        self, sched: Scheduler | RealtimeScheduler, callback: Callable[[None], object]
    ) -> None:
        self._sched = sched
        self._callback = callback
        self._entry: Event | None = None  # the live heap entry, if any
        # The bound method, made once: every arm would otherwise make a new one.
        self._fire_cb: Callable[[None], None] = self._fire
        self.expires: int | None = None  # None = not armed

    @property
    def pending(self) -> bool:
        return self.expires is not None

    def arm(self, when: int) -> None:
        """Arm (or re-arm) the timer to fire at absolute time ``when``."""
        self.expires = when
        entry = self._entry
        if entry is not None:
            if entry[0] <= when:
                return  # the earlier entry will re-queue itself on firing
            self._sched.cancel(entry)
        self._entry = self._sched.call_at(when, self._fire_cb, None)

    def arm_later(self, delay: int) -> None:
        self.arm(self._sched.now + delay)

    def cancel(self) -> None:
        self.expires = None
        entry = self._entry
        if entry is not None:
            self._sched.cancel(entry)
            self._entry = None

    def _fire(self, _arg: None) -> None:
        expires = self.expires
        self._entry = None
        if expires is None:
            return
        if expires > self._sched.now:
            self._entry = self._sched.call_at(expires, self._fire_cb, None)
            return
        self.expires = None
        self._callback(None)
