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
from typing import Any, Protocol, runtime_checkable

from qdisclab.sim.scheduler import Event


@runtime_checkable
class EventScheduler(Protocol):
    """``now`` in integer ns; one-shot callbacks at absolute or relative times."""

    now: int
    tracepoints: dict[str, Any]  # this run's tracepoint instances (sim/tracepoint.py)

    def call_at(self, when: int, callback: Callable[[Any], Any], arg: Any = None) -> Event:
        """Run ``callback(arg)`` at absolute time ``when`` (ns); returns a cancellable entry."""
        ...

    def call_later(self, delay: int, callback: Callable[[Any], Any], arg: Any = None) -> Event:
        """Run ``callback(arg)`` ``delay`` ns from now."""
        ...

    @staticmethod
    def cancel(entry: Event) -> None:
        """Cancel an entry in O(1); cancelling twice is harmless."""
        ...

    @staticmethod
    def is_pending(entry: Event | None) -> bool:
        """Whether ``entry`` is still to run."""
        ...

    def run(self, until: int | None = None) -> None:
        """Run events until idle or until time ``until``."""
        ...
