"""Exact totals over a measurement window, from two snapshots of running counters.

A counter (bytes delivered to a sink, bytes read by an application) is read
once when the window opens and once when it closes, by events scheduled
before the run starts, so they run before anything else that happens at
those instants: what a window ``[start, end)`` counts is exactly what was
counted at times ``start <= t < end``, for any window length, at no cost
per packet.

>>> from qdisclab.sim import Scheduler
>>> sched = Scheduler(); total = [0]
>>> w = WindowTotals(sched, (10, 20))
>>> w.watch(lambda: {"flow": total[0]})
>>> for t in (5, 10, 15, 20):
...     _ = sched.call_at(t, lambda _a: total.__setitem__(0, total[0] + 100))
>>> sched.run(); w.delta("flow"), w.rate_bps("flow")  # the adds at 10 and 15
(200, 160000000000.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Counters = Callable[[], dict[str, int]]


class WindowTotals:
    """Reads named counters at ``window[0]`` and ``window[1]`` (ns); ``delta`` is the difference.

    A counter that did not exist yet when the window opened (a connection
    accepted later) counts from zero.
    """

    __slots__ = ("_at_end", "_at_start", "_sources", "end", "start")

    def __init__(self, sched: Any, window: tuple[int, int]) -> None:
        self.start, self.end = window
        self._sources: list[Counters] = []
        self._at_start: dict[str, int] = {}
        self._at_end: dict[str, int] | None = None
        sched.call_at(self.start, self._open, None)
        sched.call_at(self.end, self._close, None)

    def watch(self, counters: Counters) -> None:
        """Measure ``counters()`` (names to non-decreasing ints) over the window."""
        self._sources.append(counters)

    def _read(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for fn in self._sources:
            out.update(fn())
        return out

    def _open(self, _arg: object) -> None:
        self._at_start = self._read()

    def _close(self, _arg: object) -> None:
        self._at_end = self._read()

    def delta(self, name: str) -> int:
        """What ``name`` counted inside the window (so far, if the window is still open)."""
        end = self._at_end if self._at_end is not None else self._read()
        return end.get(name, 0) - self._at_start.get(name, 0)

    def rate_bps(self, name: str) -> float:
        """``delta`` bytes as bit/s over the whole window length."""
        length = self.end - self.start
        return self.delta(name) * 8 * 1e9 / length if length > 0 else 0.0
