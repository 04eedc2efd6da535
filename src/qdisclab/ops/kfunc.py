"""Kfuncs, declared once: the functions an extension may call, and from which callbacks.

A kfunc is a method of the context an extension receives (the qdisc's ``sch``,
a tcx program's context ...), decorated with ``@kfunc``: the decorator carries
the kernel name, the callbacks allowed to call it (mirroring
``bpf_qdisc_kfunc_filter``), the kernel's flags (acquire, release, may return
NULL, trusted args) and the method's own docstring. Everything else is derived
from that one declaration:

* the registry ``KFUNCS`` (``qdisclab kfuncs``, and the table compiled BPF
  programs are bound to by kernel name: ``lookup("bpf_kfree_skb")``);
* the allow-list each callback's ``Frame`` carries (``allowed_for``);
* the check at call time, whose error names both the Python method and the
  kernel kfunc, and what the callback may use instead;
* ``help()`` on the context, which shows each kfunc once with its signature.

A context class derives from ``KfuncContext`` and names its interface; its
``unchecked`` twin (same methods without the allow-list check) serves the
``off`` ownership policy, so the benchmark baseline pays nothing.

>>> class DemoContext(KfuncContext, interface="Demo_ops", prefix="ctx"):
...     __slots__ = ()
...     @kfunc("bpf_demo_free", allowed={"enqueue"}, flags=KF_RELEASE)
...     def free(self, skb):
...         '''Free an skb now.'''
...         return "freed"
>>> k = lookup("bpf_demo_free")
>>> (k.python, k.method, sorted(k.allowed), k.flag_names())
('ctx.free()', 'free', ['enqueue'], ['KF_RELEASE'])
>>> sorted(KFUNCS.allowed_for("Demo_ops", "enqueue")), sorted(KFUNCS.allowed_for("Demo_ops", "init"))
(['bpf_demo_free'], [])
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, ParamSpec, TypeVar

from qdisclab.errors import ExtensionFault
from qdisclab.ops.ownership import RUNNING, Frame

Params = ParamSpec("Params")
Result = TypeVar("Result")
Method = TypeVar("Method", bound=Callable[..., object])

# include/linux/btf.h
KF_ACQUIRE = 1 << 0
KF_RELEASE = 1 << 1
KF_RET_NULL = 1 << 2
KF_TRUSTED_ARGS = 1 << 4
KF_SLEEPABLE = 1 << 5

_FLAG_NAMES = (
    (KF_ACQUIRE, "KF_ACQUIRE"),
    (KF_RELEASE, "KF_RELEASE"),
    (KF_RET_NULL, "KF_RET_NULL"),
    (KF_TRUSTED_ARGS, "KF_TRUSTED_ARGS"),
    (KF_SLEEPABLE, "KF_SLEEPABLE"),
)

ALL_MEMBERS = "*"


@dataclass(frozen=True)
class Kfunc:
    """One kfunc's declaration: kernel name, Python method, allow-list, flags, doc.

    ``func`` is the implementation (``func(context, *args)``), the same one a
    compiled program calling ``name`` is bound to.
    """

    name: str
    interface: str
    allowed: frozenset[str]  # member names, or {"*"} for every member
    flags: int
    doc: str
    method: str = ""
    prefix: str = "sch"
    signature: str = "()"
    func: Callable[..., object] | None = field(default=None, compare=False, repr=False)

    @property
    def python(self) -> str:
        """How a policy calls it: ``sch.drop()``."""
        if not self.method:
            return self.name
        return f"{self.prefix}.{self.method}()" if self.prefix else f"{self.method}()"

    def flag_names(self) -> list[str]:
        return [text for bit, text in _FLAG_NAMES if self.flags & bit]

    def allows(self, member: str) -> bool:
        return ALL_MEMBERS in self.allowed or member in self.allowed

    def allowed_text(self) -> str:
        return "every callback" if ALL_MEMBERS in self.allowed else ", ".join(sorted(self.allowed))


class KfuncRegistry:
    """All kfuncs, grouped by the ops interface that may use them."""

    def __init__(self) -> None:
        self._kfuncs: dict[tuple[str, str], Kfunc] = {}
        # (interface, member) -> allow-list: every qdisc instance asks for the same few
        # (six per qdisc created), so each is computed once per set of declarations.
        self._allowed: dict[tuple[str, str], frozenset[str]] = {}

    def add(self, kf: Kfunc) -> Kfunc:
        self._kfuncs[(kf.interface, kf.name)] = kf
        self._allowed.clear()  # a new declaration may widen any allow-list
        return kf

    def register(
        self,
        name: str,
        interface: str,
        allowed: Iterable[str],
        flags: int,
        doc: str,
        func: Callable[..., object] | None = None,
    ) -> Kfunc:
        """Register a plain-function kfunc (one that takes its object as an argument)."""
        signature = _signature(func) if func is not None else "()"
        method = func.__name__ if func is not None else ""
        return self.add(
            Kfunc(name, interface, frozenset(allowed), flags, doc, method, "", signature, func)
        )

    def allowed_for(self, interface: str, member: str) -> frozenset[str]:
        """Names of the kfuncs callable from ``member`` of ``interface``."""
        key = (interface, member)
        allowed = self._allowed.get(key)
        if allowed is None:
            allowed = self._allowed[key] = frozenset(
                kf.name
                for (iface, _), kf in self._kfuncs.items()
                if iface == interface and kf.allows(member)
            )
        return allowed

    def of(self, interface: str) -> list[Kfunc]:
        """The kfuncs of one interface, by kernel name."""
        return sorted(
            (kf for (iface, _), kf in self._kfuncs.items() if iface == interface),
            key=lambda k: k.name,
        )

    def get(self, name: str, interface: str | None = None) -> Kfunc | None:
        """The declaration of kernel kfunc ``name`` (in ``interface`` when given)."""
        if interface is not None:
            return self._kfuncs.get((interface, name))
        found = [kf for (_, n), kf in self._kfuncs.items() if n == name]
        if len(found) > 1:
            raise LookupError(
                f"kfunc {name} is declared by several interfaces "
                f"({', '.join(sorted(k.interface for k in found))}); name one"
            )
        return found[0] if found else None

    def all(self) -> list[Kfunc]:
        return sorted(self._kfuncs.values(), key=lambda k: (k.interface, k.name))


KFUNCS = KfuncRegistry()


def lookup(name: str, interface: str | None = None) -> Kfunc:
    """The declaration of kernel kfunc ``name``: Python method, allow-list, flags, doc.

    Raises ``KeyError`` naming the kfunc when nothing declares it.
    """
    load_subsystems()
    kf = KFUNCS.get(name, interface)
    if kf is None:
        raise KeyError(f"no kfunc named {name}" + (f" in {interface}" if interface else ""))
    return kf


# Subsystems that declare kfuncs when imported (``lookup`` and the CLI load them).
SUBSYSTEMS = (
    "qdisclab.sched",
    "qdisclab.tcp.congestion",
    "qdisclab.tcp.sock_ops",
    "qdisclab.tcx",
)


def load_subsystems() -> None:
    """Import every subsystem that declares kfuncs (missing ones are skipped)."""
    import importlib

    for name in SUBSYSTEMS:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


# -- the declaration ------------------------------------------------------------------


@dataclass(frozen=True)
class _Decl:
    name: str
    allowed: frozenset[str]
    flags: int


def kfunc(
    name: str, *, allowed: Iterable[str] = (ALL_MEMBERS,), flags: int = 0
) -> Callable[[Method], Method]:
    """Declare a context method as kernel kfunc ``name``, callable from ``allowed`` callbacks.

    The method's docstring is the kfunc's doc. The class it is defined in must
    derive from ``KfuncContext``, which registers it.
    """
    decl = _Decl(name, frozenset(allowed), flags)

    def mark(fn: Method) -> Method:
        fn.__kfunc__ = decl  # type: ignore[attr-defined]
        return fn

    return mark


def refusal(kf: Kfunc, frame: Frame | None) -> ExtensionFault:
    """The error for calling ``kf`` where it is not allowed, naming method and kfunc."""
    if frame is None:
        return ExtensionFault(
            "?", "(no callback running)", f"{kf.python} ({kf.name}) called outside a callback"
        )
    here = frame.callback
    text = f"{kf.python} (kfunc {kf.name}) is allowed only in {kf.allowed_text()}, not in {here}"
    alternatives = [
        other.python
        for other in KFUNCS.of(kf.interface)
        if other is not kf and other.name in frame.allowed and other.flags & kf.flags & KF_RELEASE
    ]
    if alternatives:
        text += f"; in {here} use {' or '.join(alternatives)}"
    return ExtensionFault(frame.kind, here, text)


def _signature(fn: Callable[..., object]) -> str:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return "(...)"
    params = [p for p in sig.parameters.values() if p.name != "self"]
    return str(sig.replace(parameters=params)).replace("'", "")


def _checking(kf: Kfunc, fn: Callable[Params, Result]) -> Callable[Params, Result]:
    """``fn`` preceded by the allow-list check (one frozenset test)."""
    name = kf.name
    running = RUNNING

    @functools.wraps(fn)
    def checked(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        frame = running.frame
        if frame is None or name not in frame.allowed:
            raise refusal(kf, frame)
        return fn(*args, **kwargs)

    checked.__kfunc__ = fn.__kfunc__  # type: ignore[attr-defined]
    return checked


class KfuncContext:
    """Base of the object an extension receives; its ``@kfunc`` methods become the registry.

    ``class QdiscContext(KfuncContext, interface="Qdisc_ops", prefix="sch")``
    registers every decorated method; ``QdiscContext.unchecked`` is the same
    class without the allow-list checks (ownership policy ``off``).
    """

    __slots__ = ()
    interface: ClassVar[str] = ""
    prefix: ClassVar[str] = ""
    unchecked: ClassVar[type]

    def __init_subclass__(cls, interface: str = "", prefix: str = "", **kw: object) -> None:
        super().__init_subclass__(**kw)
        if not interface:  # the unchecked twin, or a subclass adding nothing
            return
        cls.interface = interface
        cls.prefix = prefix or "ctx"
        raw: dict[str, Callable[..., object]] = {}
        for attr, fn in list(vars(cls).items()):
            decl = getattr(fn, "__kfunc__", None)
            if decl is None:
                continue
            kf = KFUNCS.add(
                Kfunc(
                    decl.name, interface, decl.allowed, decl.flags,
                    inspect.cleandoc(fn.__doc__ or ""), attr, cls.prefix, _signature(fn), fn,
                )
            )  # fmt: skip
            raw[attr] = fn
            if ALL_MEMBERS not in kf.allowed:  # allowed everywhere: nothing to check per call
                setattr(cls, attr, _checking(kf, fn))
        cls.unchecked = type(
            cls.__name__, (cls,), {"__slots__": (), "__module__": cls.__module__, **raw}
        )

    @classmethod
    def kfuncs(cls) -> list[Kfunc]:
        """The kfuncs this context offers."""
        return KFUNCS.of(cls.interface)
