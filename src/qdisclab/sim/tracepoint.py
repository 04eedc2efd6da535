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
from typing import Generic, ParamSpec, Protocol, TypeVar, cast

from mypy_extensions import mypyc_attr

P = ParamSpec("P")


class TracepointDecl(Generic[P]):
    """One tracepoint's declaration: its name, the arguments it passes, what it means.

    The type parameter is the listeners' signature; a declaration site states it
    (``QDISC_DROP: TracepointDecl[[int, Qdisc, SkBuff, int]] = declare(...)``) so
    that every ``attach`` and ``emit`` of that tracepoint is checked against it.
    """

    __slots__ = ("args", "doc", "name")

    def __init__(self, name: str, args: tuple[str, ...], doc: str) -> None:
        self.name = name
        self.args = args
        self.doc = doc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TracepointDecl):
            return NotImplemented
        return (self.name, self.args, self.doc) == (other.name, other.args, other.doc)

    def __hash__(self) -> int:
        return hash((self.name, self.args, self.doc))

    def __repr__(self) -> str:
        return f"TracepointDecl(name={self.name!r}, args={self.args!r}, doc={self.doc!r})"


#: Every declared tracepoint by name (``qdisclab tracepoints`` and the docs list these).
DECLARED: dict[str, TracepointDecl[...]] = {}


def declare(name: str, args: tuple[str, ...], doc: str) -> TracepointDecl[...]:
    """Declare a tracepoint once, at the layer whose code fires it."""
    decl: TracepointDecl[...] = TracepointDecl(name, args, doc)
    if name in DECLARED and DECLARED[name] != decl:
        raise ValueError(f"tracepoint {name} declared twice with different arguments")
    DECLARED[name] = decl
    return decl


class ProbeSite(Protocol):
    """An object that fires tracepoints and rebuilds its probes when listeners change."""

    def rebind_probes(self) -> None: ...


#: The object a :class:`ProbeSiteProxy` stands for (a device, a qdisc).
S = TypeVar("S", bound=ProbeSite)


@mypyc_attr(native_class=False)
class ProbeSiteProxy(Generic[S]):
    """Stands for a probe site in tracepoints' site sets, which hold sites weakly.

    A compiled (native) class cannot be weakly referenced, so an object of one
    registers this plain object instead, keeps it alive as long as itself, and
    is told through it when listeners change. ``target`` is the object it
    stands for (what a tool walking ``Tracepoint.sites`` is after).

    >>> from qdisclab.sim import Scheduler
    >>> DEMO_SITE = declare("demo:site", ("now",), "a demo tracepoint with a site")
    >>> class Probe:
    ...     rebinds = 0
    ...     def rebind_probes(self) -> None:
    ...         self.rebinds += 1
    >>> probe = Probe(); tp = tracepoint(Scheduler(), DEMO_SITE)
    >>> proxy = ProbeSiteProxy(probe); tp.add_site(proxy)
    >>> tp.attach(print); probe.rebinds, [s.target for s in tp.sites] == [probe]
    (1, True)
    """

    __slots__ = ("__weakref__", "target")

    def __init__(self, target: S) -> None:
        self.target = target

    def rebind_probes(self) -> None:
        self.target.rebind_probes()


class Tracepoint(Generic[P]):
    """One scheduler's instance of a declared tracepoint."""

    __slots__ = ("_sites", "decl", "listeners")

    def __init__(self, decl: TracepointDecl[P]) -> None:
        self.decl = decl
        self.listeners: tuple[Callable[P, None], ...] = ()
        self._sites: weakref.WeakSet[ProbeSite] = weakref.WeakSet()

    def attach(self, fn: Callable[P, None]) -> None:
        """Call ``fn(*args)`` with the declared arguments at every hit."""
        self.listeners = (*self.listeners, fn)
        self._changed()

    def detach(self, fn: Callable[P, None]) -> None:
        """Stop calling ``fn``; nothing happens if it was not attached."""
        before = self.listeners
        self.listeners = tuple(f for f in before if f is not fn)
        if self.listeners != before:
            self._changed()

    def emit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Deliver one hit to every listener (probe sites test ``listeners`` first)."""
        for fn in self.listeners:
            fn(*args, **kwargs)

    def add_site(self, site: ProbeSite) -> None:
        """Register a probe site (held weakly): ``site.rebind_probes()`` runs on every change."""
        self._sites.add(site)

    @property
    def sites(self) -> Iterator[ProbeSite]:
        """The live probe sites registered with ``add_site``."""
        return iter(list(self._sites))

    def _changed(self) -> None:
        for site in list(self._sites):
            site.rebind_probes()

    def __repr__(self) -> str:
        return f"<Tracepoint {self.decl.name} listeners={len(self.listeners)}>"


class HasTracepoints(Protocol):
    """A scheduler: it holds one run's tracepoint instances by name."""

    tracepoints: dict[str, Tracepoint[...]]


def tracepoint(sched: HasTracepoints, decl: TracepointDecl[P]) -> Tracepoint[P]:
    """The instance of ``decl`` that belongs to ``sched`` (created on first use)."""
    table = sched.tracepoints
    found = table.get(decl.name)
    if found is not None:
        # Made from this very declaration (names are unique in DECLARED), so it has its P.
        return cast("Tracepoint[P]", found)
    made = Tracepoint(decl)
    table[decl.name] = made
    return made
