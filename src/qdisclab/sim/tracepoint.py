"""Static tracepoints: named probe sites that cost nothing, or one test, when unused.

As in the kernel, a tracepoint is declared once (``TracepointDecl``: a
``subsystem:event`` name, its argument names and a doc line) at the layer
that fires it, and each scheduler — one simulated world, or one live run —
has its own instance of every tracepoint, so listeners of one run never see
another's events. A probe site holds a reference to its instance and tests
``tp.listeners`` (an empty tuple while nothing listens) before emitting:

>>> from qdisclab.sim import Scheduler
>>> DEMO = declare("demo:tick", ("now", "value"), "a demo tracepoint")
>>> sched = Scheduler()
>>> tp = tracepoint(sched, DEMO)
>>> seen = []
>>> tp.attach(lambda now, value: seen.append((now, value)))
>>> if tp.listeners:
...     tp.emit(sched.now, 7)
>>> seen
[(0, 7)]

A hot probe site can do better than a test per hit (the kernel patches a
jump in; qdisclab swaps a function): it registers with ``add_site`` and is
told (``site.rebind_probes()``) whenever listeners come or go, so its code
with no probe at all runs while nothing listens. ``sites`` also lets a tool
find every object that fires a tracepoint of a run (the qdiscs of a world).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Listener = Callable[..., None]


@dataclass(frozen=True, slots=True)
class TracepointDecl:
    """One tracepoint's declaration: its name, the arguments it passes, what it means."""

    name: str
    args: tuple[str, ...]
    doc: str


#: Every declared tracepoint by name (``qdisclab tracepoints`` and the docs list these).
DECLARED: dict[str, TracepointDecl] = {}


def declare(name: str, args: tuple[str, ...], doc: str) -> TracepointDecl:
    """Declare a tracepoint once, at the layer whose code fires it."""
    if name in DECLARED and DECLARED[name] != TracepointDecl(name, args, doc):
        raise ValueError(f"tracepoint {name} declared twice with different arguments")
    decl = DECLARED[name] = TracepointDecl(name, args, doc)
    return decl


class Tracepoint:
    """One scheduler's instance of a declared tracepoint."""

    __slots__ = ("_sites", "decl", "listeners")

    def __init__(self, decl: TracepointDecl) -> None:
        self.decl = decl
        self.listeners: tuple[Listener, ...] = ()
        self._sites: weakref.WeakSet[Any] = weakref.WeakSet()

    def attach(self, fn: Listener) -> None:
        """Call ``fn(*args)`` with the declared arguments at every hit."""
        self.listeners = (*self.listeners, fn)
        self._changed()

    def detach(self, fn: Listener) -> None:
        """Stop calling ``fn``; nothing happens if it was not attached."""
        before = self.listeners
        self.listeners = tuple(f for f in before if f is not fn)
        if self.listeners != before:
            self._changed()

    def emit(self, *args: Any) -> None:
        """Deliver one hit to every listener (probe sites test ``listeners`` first)."""
        for fn in self.listeners:
            fn(*args)

    def add_site(self, site: Any) -> None:
        """Register a probe site (held weakly): ``site.rebind_probes()`` runs on every change."""
        self._sites.add(site)

    @property
    def sites(self) -> Iterator[Any]:
        """The live probe sites registered with ``add_site``."""
        return iter(list(self._sites))

    def _changed(self) -> None:
        for site in list(self._sites):
            site.rebind_probes()

    def __repr__(self) -> str:
        return f"<Tracepoint {self.decl.name} listeners={len(self.listeners)}>"


def tracepoint(sched: Any, decl: TracepointDecl) -> Tracepoint:
    """The instance of ``decl`` that belongs to ``sched`` (created on first use)."""
    table: dict[str, Tracepoint] = sched.tracepoints
    tp = table.get(decl.name)
    if tp is None:
        tp = table[decl.name] = Tracepoint(decl)
    return tp
