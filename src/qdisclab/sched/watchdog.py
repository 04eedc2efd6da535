"""The qdisc watchdog (``qdisc_watchdog_schedule_range_ns``).

A non-work-conserving qdisc that returns nothing from dequeue asks to be
called again at an absolute time. Semantics from the kernel: no-op while the
device is deactivated; if the timer is already queued with an expiry inside
``[expires, expires + delta_ns]`` it is left alone; an expiry already in the
past fires at once (the hrtimer expires immediately), never earlier than now,
so a policy cannot move the clock backwards; on expiry the root qdisc is
rescheduled (``__netif_schedule``), which runs dequeue again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qdisclab.sim import Timer

if TYPE_CHECKING:
    from qdisclab.sched.state import QdiscDevice
    from qdisclab.sim import RealtimeScheduler, Scheduler


class QdiscWatchdog:
    __slots__ = ("_dev", "_sched", "_timer", "fired", "last_expires")

    def __init__(self, sched: Scheduler | RealtimeScheduler, dev: QdiscDevice) -> None:
        self._dev = dev
        self._sched = sched
        self._timer = Timer(sched, self._expired)
        self.last_expires: int | None = None
        self.fired = 0

    def schedule(self, expires: int, delta_ns: int = 0) -> None:
        if expires.__class__ is not int or delta_ns.__class__ is not int or delta_ns < 0:
            raise TypeError(
                f"watchdog expiry must be int ns and slack a non-negative int "
                f"(got {expires!r}, {delta_ns!r})"
            )
        now = self._sched.now
        if expires < now:
            expires = now  # in the past: fire at once, never before now
        current = self._timer.expires
        if current is not None and expires <= current <= expires + delta_ns:
            # Already armed in range: nothing to do whether or not the device is active.
            # Tested first, since a throttled qdisc asks again on every dequeue attempt
            # and the device's ``active`` is a property read through getattr.
            return
        if not getattr(self._dev, "active", True):
            return
        self.last_expires = expires
        self._timer.arm(expires)

    @property
    def pending(self) -> bool:
        return self._timer.pending

    @property
    def expires(self) -> int | None:
        return self._timer.expires

    def cancel(self) -> None:
        self._timer.cancel()

    def _expired(self, _arg: object) -> None:
        self.fired += 1
        self._dev.netif_schedule()
