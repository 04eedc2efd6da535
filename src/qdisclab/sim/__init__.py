"""Simulation core: virtual clock and event scheduler, timers, RNG streams, real-time clock.

Time is always an ``int`` of nanoseconds. Helpers: ``NSEC_PER_SEC`` etc.
"""

from qdisclab.sim.interface import EventScheduler
from qdisclab.sim.realtime import RealtimeScheduler
from qdisclab.sim.rng import RngStreams
from qdisclab.sim.scheduler import Event, Scheduler, Timer

NSEC_PER_USEC = 1_000
NSEC_PER_MSEC = 1_000_000
NSEC_PER_SEC = 1_000_000_000

__all__ = [
    "NSEC_PER_MSEC",
    "NSEC_PER_SEC",
    "NSEC_PER_USEC",
    "Event",
    "EventScheduler",
    "RealtimeScheduler",
    "RngStreams",
    "Scheduler",
    "Timer",
]
