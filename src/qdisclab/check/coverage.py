"""What an exploration reached: the largest queue, callbacks and kfuncs run, drop and watchdog paths.

A check that never filled the queue never ran the overflow path, and one
that never let time pass never ran the watchdog: the coverage line says so
plainly, so "no problem found" is read for what it covers.

Callbacks and kfuncs are seen with a profile hook that looks for their code
objects (the policy's own callbacks, each kfunc's implementation), so
nothing in the qdisc or the datapath is changed to count them. The hook
triples a sequence's cost, so it runs on a sample: the first ``PROFILED``
sequences and every ``PROFILED``-th after.

>>> cov = Coverage(limit=10)
>>> cov.max_qlen = 4
>>> cov.never_reached()[0]
'the limit (largest qlen 4, backlog 0b, against sch.limit 10)'
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from qdisclab.ops import KFUNCS
from qdisclab.sched.context import CALLBACKS, IFACE
from qdisclab.skb import DROP_RESET

PROFILED = 10  # the first PROFILED sequences, then every PROFILED-th, see callbacks and kfuncs


@dataclass
class Coverage:
    """Totals over every sequence one exploration played."""

    limit: int = 0
    sequences: int = 0
    packets: int = 0
    max_qlen: int = 0
    max_backlog: int = 0
    mtu: int = 1500
    codes: dict[str, int] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    watchdog_armed: int = 0  # sequences in which the watchdog was armed at least once
    watchdog_fired: int = 0
    callbacks: set[str] = field(default_factory=set)
    kfuncs: set[str] = field(default_factory=set)
    _watched: dict[Any, tuple[str, str]] = field(default_factory=dict, repr=False)

    def profiled(self, index: int) -> bool:
        """Whether sequence number ``index`` is one of the sample that sees callbacks and kfuncs."""
        return bool(self._watched) and (index < PROFILED or index % PROFILED == 0)

    def watch(self, ops_cls: type) -> None:
        """Recognise ``ops_cls``'s callbacks and every Qdisc_ops kfunc when they run."""
        for name in CALLBACKS:
            code = getattr(getattr(ops_cls, name, None), "__code__", None)
            if code is not None:
                self._watched[code] = ("callback", name)
        for kf in KFUNCS.of(IFACE):
            code = getattr(kf.func, "__code__", None)
            if code is not None:
                self._watched[code] = ("kfunc", kf.python)

    @contextmanager
    def profiling(self) -> Iterator[None]:
        """Record the watched callbacks and kfuncs that run inside the ``with`` block."""
        watched, callbacks, kfuncs = self._watched, self.callbacks, self.kfuncs

        def hook(frame: Any, event: str, _arg: Any) -> None:
            if event == "call":
                seen = watched.get(frame.f_code)
                if seen is not None:
                    (callbacks if seen[0] == "callback" else kfuncs).add(seen[1])

        previous: Callable[..., Any] | None = sys.getprofile()
        sys.setprofile(hook)
        try:
            yield
        finally:
            sys.setprofile(previous)

    def add_run(self, qdiscs: list[Any]) -> None:
        """Fold in one finished sequence's counters (its qdisc and every descendant)."""
        self.sequences += 1
        armed = False
        for q in qdiscs:
            for reason, n in q.drop_reasons.items():
                self.drops[reason] = self.drops.get(reason, 0) + n
            armed |= q.watchdog.last_expires is not None
            self.watchdog_fired += q.watchdog.fired
        self.watchdog_armed += armed

    def limit_reached(self) -> bool:
        """``sch.limit`` reached, as packets or, for a byte limit, within one packet of it.

        A limit is taken as bytes only if it is larger than a packet and the
        backlog never exceeded it.
        """
        if self.max_qlen >= self.limit:
            return True
        frame = self.mtu + 14
        return self.limit > frame and self.limit - frame < self.max_backlog <= self.limit

    def never_reached(self) -> list[str]:
        """The paths no sequence reached, in words."""
        missing = []
        if self.limit > 0 and not self.limit_reached():
            missing.append(f"the limit (largest qlen {self.max_qlen}, backlog "
                           f"{self.max_backlog}b, against sch.limit {self.limit})")  # fmt: skip
        if not any(n for reason, n in self.drops.items() if reason != DROP_RESET):
            missing.append("the drop path (the qdisc dropped no packet)")
        if not self.watchdog_armed:
            missing.append("the watchdog (never armed)")
        if self._watched:
            missing += [f"callback {name}" for name in CALLBACKS if name not in self.callbacks]
        return missing

    def line(self) -> str:
        """One paragraph for the report."""
        limit = (f"against sch.limit {self.limit}" if self.limit > 0
                 else "(no limit set: sch.limit is 0)")  # fmt: skip
        parts = [
            f"{self.sequences} sequences, {self.packets} packets",
            f"largest qlen {self.max_qlen}, backlog {self.max_backlog}b {limit}",
        ]
        if self._watched:
            parts.append("callbacks " + (", ".join(sorted(self.callbacks)) or "none"))
            parts.append("kfuncs " + (", ".join(sorted(self.kfuncs)) or "none"))
        drops = ", ".join(f"{reason} {n}" for reason, n in sorted(self.drops.items()) if n)
        parts.append(f"drops {drops or 'none'}")
        parts.append(f"watchdog armed in {self.watchdog_armed} sequences, fired "
                     f"{self.watchdog_fired} times")  # fmt: skip
        text = "coverage: " + "; ".join(parts)
        missing = self.never_reached()
        if missing:
            text += "\nnever reached: " + "; ".join(missing)
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "sequences": self.sequences,
            "packets": self.packets,
            "max_qlen": self.max_qlen,
            "max_backlog": self.max_backlog,
            "limit": self.limit,
            "return_codes": dict(sorted(self.codes.items())),
            "drops": dict(sorted(self.drops.items())),
            "watchdog_armed_sequences": self.watchdog_armed,
            "watchdog_fired": self.watchdog_fired,
            "callbacks": sorted(self.callbacks),
            "kfuncs": sorted(self.kfuncs),
            "never_reached": self.never_reached(),
        }


@dataclass
class Tally:
    """Coverage for a congestion control or a tcx program: what each sequence reached, counted.

    >>> t = Tally("TCP_CA states", ("Open", "Loss"))
    >>> t.add("Open"); t.sequences = 1
    >>> t.line()
    'coverage: 1 sequences; TCP_CA states Open 1\\nnever reached: Loss'
    """

    label: str
    expected: tuple[str, ...]
    sequences: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def never_reached(self) -> list[str]:
        return [what for what in self.expected if not self.counts.get(what)]

    def line(self) -> str:
        seen = ", ".join(f"{what} {n}" for what, n in sorted(self.counts.items()))
        text = f"coverage: {self.sequences} sequences; {self.label} {seen or 'none'}"
        missing = self.never_reached()
        if missing:
            text += "\nnever reached: " + ", ".join(missing)
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "sequences": self.sequences,
            self.label: dict(sorted(self.counts.items())),
            "never_reached": self.never_reached(),
        }
