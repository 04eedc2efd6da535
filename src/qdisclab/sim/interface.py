"""The interface every scheduler offers the layers above it.

Devices, qdisc watchdogs, timers and TCP only ever call these members, so the
virtual-time ``Scheduler`` and the wall-clock ``RealtimeScheduler`` are
interchangeable underneath them. Stated as a ``typing.Protocol``: neither
class inherits from it, so the simulated scheduler's hot path is untouched.

>>> from qdisclab.sim import RealtimeScheduler, Scheduler
>>> isinstance(Scheduler(), EventScheduler), isinstance(RealtimeScheduler(), EventScheduler)
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar, overload, runtime_checkable

from qdisclab.sim.scheduler import Event, Line

if TYPE_CHECKING:
    from qdisclab.sim.tracepoint import Tracepoint

T = TypeVar("T")


@runtime_checkable
class EventScheduler(Protocol):
    """``now`` in integer ns; one-shot callbacks at absolute or relative times."""

    now: int
    #: The pending entries as a ``heapq`` heap, which a per-packet path may push onto
    #: directly (``heappush(heap, (when, next_seq(), callback, arg))``, as ``call_at``).
    heap: list[Event]
    #: FIFO lines of entries of which only the head is in ``heap`` (a wire's packets).
    lines: list[Line]
    tracepoints: dict[str, Tracepoint[...]]  # this run's tracepoint instances

    @overload
    def call_at(self, when: int, callback: Callable[[None], object]) -> Event: ...
    @overload
    def call_at(self, when: int, callback: Callable[[T], object], arg: T) -> Event: ...
    def call_at(self, when: int, callback: Callable[..., object], arg: object = None) -> Event:
        """Run ``callback(arg)`` at absolute time ``when`` (ns); returns a cancellable entry."""
        ...

    @overload
    def call_later(self, delay: int, callback: Callable[[None], object]) -> Event: ...
    @overload
    def call_later(self, delay: int, callback: Callable[[T], object], arg: T) -> Event: ...
    def call_later(self, delay: int, callback: Callable[..., object], arg: object = None) -> Event:
        """Run ``callback(arg)`` ``delay`` ns from now."""
        ...

    def cancel(self, entry: Event) -> None:
        """Cancel an entry in O(1); cancelling twice is harmless."""
        ...

    def is_pending(self, entry: Event | None) -> bool:
        """Whether ``entry`` was made and not cancelled."""
        ...

    def run(self, until: int | None = None) -> None:
        """Run events until idle or until time ``until``."""
        ...
