"""struct_ops: interface descriptors and registration of extension kinds.

An interface (``Qdisc_ops``, ``tcp_congestion_ops``, ...) names its members,
which are mandatory, which it does not open to extensions, and which data
members must be left zero. Registering a class validates it the way the
kernel validates a struct_ops map (``.validate``, ``bpf_struct_ops_supported``,
``bpf_obj_name_cpy``) and raises ``KernelError`` with the kernel's errno and a
sentence naming the class and the member.

Unregistering removes only the name: live instances keep the class they were
created from. ``update`` swaps the class behind a name for new instances (the
struct_ops link update) and refuses a different id. Registering again a class
of the same name from the same module (an edited class re-defined, as a
notebook does when a cell runs twice) replaces it the same way; a different
class taking the id gets EEXIST.

>>> class Base: pass
>>> iface = StructOpsInterface("Demo_ops", Base, [Member("run", mandatory=True)])
>>> class Good(Base):
...     id = "good"
...     def run(self): pass
>>> iface.register(Good) is Good
True
>>> class Bad(Base):
...     id = "bad"
>>> try:
...     iface.register(Bad)
... except Exception as exc:
...     print(exc)
EINVAL: Demo_ops Bad: mandatory member 'run' is missing
"""

from __future__ import annotations

import errno
import importlib
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from qdisclab.errors import ENOTSUPP, KernelError

Method = TypeVar("Method", bound=Callable[..., object])


@dataclass(frozen=True)
class Member:
    """One member of an ops table."""

    name: str
    mandatory: bool = False
    supported: bool = True  # False: the interface refuses it (ENOTSUPP)
    function: bool = True  # False: a data member that must stay zero/unset (EINVAL)
    doc: str = ""


def callback(*, mandatory: bool = False, supported: bool = True) -> Callable[[Method], Method]:
    """Declare a base-class method as a member of its ops table (``members_of`` collects it).

    The method's signature and docstring are the member's; a refused member
    (``supported=False``) is declared too, so ``help()`` shows what is refused.
    """

    def mark(fn: Method) -> Method:
        doc = (fn.__doc__ or "").strip().splitlines()
        fn.__member__ = Member(  # type: ignore[attr-defined]
            fn.__name__, mandatory=mandatory, supported=supported, doc=doc[0] if doc else ""
        )
        return fn

    return mark


def members_of(base: type, data_members: tuple[str, ...] = ()) -> list[Member]:
    """The members declared with ``@callback`` on ``base`` (in definition order), then data."""
    found = [
        fn.__member__
        for klass in reversed(base.__mro__)
        for fn in vars(klass).values()
        if hasattr(fn, "__member__")
    ]
    return [*found, *(Member(name, function=False) for name in data_members)]


class StructOpsInterface:
    """An ops table type and the registry of kinds implementing it."""

    def __init__(
        self,
        name: str,
        base: type,
        members: list[Member],
        *,
        id_attr: str = "id",
        id_pattern: str = r"[A-Za-z0-9_.]+",
        id_max_len: int = 15,
        require_one_of: tuple[tuple[str, ...], ...] = (),
        builtin_modules: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.base = base
        self.members = {m.name: m for m in members}
        self.id_attr = id_attr
        self._id_re = re.compile(id_pattern)
        self.id_max_len = id_max_len
        self.require_one_of = require_one_of
        self._kinds: dict[str, type] = {}
        # Built-in kinds -> the module whose import registers them, as the kernel loads a
        # kind's module on demand: a kind is imported the first time it is looked up, or
        # when another class claims its id (a built-in's id is taken from the start).
        self.builtin_modules: dict[str, str] = dict(builtin_modules or {})

    # -- built-in kinds, imported on first use -----------------------------
    def load_builtin(self, kind: str) -> None:
        """Import the module of built-in ``kind`` (it registers the kind); others: nothing."""
        module = self.builtin_modules.get(kind)
        if module is not None and module not in sys.modules:
            importlib.import_module(module)

    def load_builtins(self) -> None:
        """Import every built-in kind's module (for listings that describe each kind)."""
        for kind in self.builtin_modules:
            self.load_builtin(kind)

    def unloaded_builtins(self) -> list[str]:
        """The built-in kinds whose module is not imported yet."""
        return [kind for kind, module in self.builtin_modules.items() if module not in sys.modules]

    def available(self) -> list[str]:
        """Every kind that may be named: those registered and the built-ins not yet imported."""
        return sorted({*self._kinds, *self.unloaded_builtins()})

    # -- validation -------------------------------------------------------
    def implements(self, cls: type, member: str) -> bool:
        """True when ``cls`` provides ``member`` itself (not the base's default)."""
        mine = getattr(cls, member, None)
        return mine is not None and mine is not getattr(self.base, member, None)

    def kind_id(self, cls: type) -> str:
        return getattr(cls, self.id_attr, "")

    def validate(self, cls: type) -> None:
        """Raise ``KernelError`` if ``cls`` is not a valid implementation."""
        where = f"{self.name} {cls.__name__}"
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise KernelError(errno.EINVAL, f"{where}: must subclass {self.base.__name__}")
        kind = self.kind_id(cls)
        if not isinstance(kind, str) or not kind:
            raise KernelError(
                errno.EINVAL, f"{where}: member '{self.id_attr}' must be a non-empty name"
            )
        if len(kind) > self.id_max_len or not self._id_re.fullmatch(kind):
            raise KernelError(
                errno.EINVAL,
                f"{where}: member '{self.id_attr}' = {kind!r} must be 1-{self.id_max_len} characters "
                f"matching {self._id_re.pattern}",
            )
        for member in self.members.values():
            present = self.implements(cls, member.name)
            if not member.function:
                value = getattr(cls, member.name, None)
                if value not in (None, 0):
                    raise KernelError(
                        errno.EINVAL,
                        f"{where}: data member '{member.name}' must be zero (found {value!r})",
                    )
            elif not member.supported and present:
                raise KernelError(
                    ENOTSUPP,
                    f"{where}: member '{member.name}' is not supported by {self.name} "
                    "(attach to unsupported member)",
                )
            elif member.mandatory and not present:
                raise KernelError(
                    errno.EINVAL, f"{where}: mandatory member '{member.name}' is missing"
                )
        for group in self.require_one_of:
            if not any(self.implements(cls, m) for m in group):
                raise KernelError(
                    errno.EINVAL, f"{where}: one of the members {', '.join(group)} is required"
                )

    # -- registry ---------------------------------------------------------
    def register(self, cls: type) -> type:
        """Validate and register ``cls`` under its id; EEXIST if the id is taken."""
        self.validate(cls)
        kind = self.kind_id(cls)
        self.load_builtin(kind)  # a no-op for the built-in module registering its own kind
        old = self._kinds.get(kind)
        if old is not None and old is not cls and _same_definition(old, cls):
            # The same class edited and defined again (a notebook re-running its cell):
            # replace it as a link update does; live instances keep the old one.
            self._kinds[kind] = cls
            return cls
        if kind in self._kinds:
            if self._kinds[kind] is cls:
                raise KernelError(
                    errno.EEXIST, f"{self.name} {cls.__name__}: '{kind}' is already registered"
                )
            raise KernelError(
                errno.EEXIST,
                f"{self.name} {cls.__name__}: id '{kind}' is already registered "
                f"by {self._kinds[kind].__name__}",
            )
        self._kinds[kind] = cls
        return cls

    def members_doc(self) -> list[Member]:
        """The function members, mandatory first, then optional, then refused."""
        functions = [m for m in self.members.values() if m.function]
        return sorted(functions, key=lambda m: (not m.mandatory, not m.supported))

    def unregister(self, kind: str) -> None:
        """Remove the name; instances already created keep working."""
        if kind not in self._kinds:
            raise KernelError(errno.ENOENT, f"{self.name}: no kind '{kind}' is registered")
        del self._kinds[kind]

    def update(self, kind: str, cls: type) -> None:
        """Replace the class behind ``kind`` for new instances (struct_ops link update)."""
        if kind not in self._kinds:
            raise KernelError(errno.ENOENT, f"{self.name}: no kind '{kind}' is registered")
        self.validate(cls)
        if self.kind_id(cls) != kind:
            raise KernelError(
                errno.EINVAL,
                f"{self.name} {cls.__name__}: update must keep id '{kind}' "
                f"(found '{self.kind_id(cls)}')",
            )
        self._kinds[kind] = cls

    def lookup(self, kind: str) -> type | None:
        """The class registered as ``kind`` (a built-in one is imported first), or None."""
        cls = self._kinds.get(kind)
        if cls is None and kind in self.builtin_modules:
            self.load_builtin(kind)
            cls = self._kinds.get(kind)
        return cls

    def is_registered(self, cls: type) -> bool:
        return self._kinds.get(self.kind_id(cls)) is cls

    def kinds(self) -> list[str]:
        return sorted(self._kinds)


def _same_definition(old: type, new: type) -> bool:
    """Whether ``new`` is a re-definition of ``old``: same class name from the same module."""
    return old.__qualname__ == new.__qualname__ and old.__module__ == new.__module__
