"""Registering qdisc kinds and creating qdiscs from tc-syntax specs.

Built-in kinds live one per file in ``qdisclab.sched.qdiscs`` and register
themselves with ``register_qdisc(Kind)`` when their module is imported (a call
after the class, not a decorator: a decorated class cannot compile to a native
one); user kinds register the same way, through the same validation. ``ops.BUILTIN_QDISCS`` names
the module of each built-in kind, so a run imports only the kinds it uses: a
kind's module is imported the first time the kind is looked up (or a user
kind claims its name), while listings still show every kind.

>>> "pfifo" in qdisc_kinds()
True
"""

from __future__ import annotations

from typing import Any

from qdisclab.errors import KernelError, UserError
from qdisclab.sched.constants import TC_H_ROOT
from qdisclab.sched.handle import next_handle
from qdisclab.sched.ops import QDISC_OPS, QDISCS_PACKAGE, QdiscOps
from qdisclab.sched.options import split_spec
from qdisclab.sched.qdisc import Qdisc


def register_qdisc(cls: type[QdiscOps]) -> type[QdiscOps]:
    """Validate and register a qdisc kind (``bpf_qdisc_reg`` -> ``register_qdisc``).

    Usable as a class decorator. Raises ``KernelError`` (EINVAL, ENOTSUPP, EEXIST).
    A built-in kind of the same id is loaded first, so a user kind cannot shadow ``pfifo``.
    """
    QDISC_OPS.register(cls)
    return cls


def unregister_qdisc(kind: str) -> None:
    """Remove a kind's name; live instances keep running."""
    QDISC_OPS.unregister(kind)


def update_qdisc(kind: str, cls: type[QdiscOps]) -> None:
    """Swap the class behind ``kind`` for new instances (struct_ops link update)."""
    QDISC_OPS.update(kind, cls)


def load_builtins() -> None:
    """Import the module of every built-in kind (for listings that describe each kind)."""
    QDISC_OPS.load_builtins()


def lookup_qdisc(kind: str) -> type[QdiscOps]:
    """The class registered as ``kind`` (a built-in one is imported on first use)."""
    cls = QDISC_OPS.lookup(kind)
    if cls is None:
        raise UserError(f"unknown qdisc kind '{kind}' (known: {', '.join(qdisc_kinds())})")
    return cls


def qdisc_kinds() -> list[str]:
    """Every kind a spec may name: those registered, and the built-ins not imported yet."""
    return QDISC_OPS.available()


def builtin_qdisc_kinds() -> list[str]:
    """The kinds shipped in ``qdisclab.sched.qdiscs`` (not user or test kinds registered since)."""
    load_builtins()
    return [
        kind
        for kind in QDISC_OPS.kinds()
        if QDISC_OPS.lookup(kind).__module__.startswith(f"{QDISCS_PACKAGE}.")
    ]


def create_qdisc(
    spec: str | type[QdiscOps],
    dev: Any,
    *,
    handle: int | None = None,
    parent: int = TC_H_ROOT,
    parent_q: Qdisc | None = None,
    opt: dict[str, Any] | None = None,
) -> Qdisc:
    """Create and init a qdisc from a spec (``"fq_codel limit 1000 target 5ms"``) or a kind class.

    ``handle`` defaults to ``next_handle``: 0 for a child, else the next automatic one.
    """
    if isinstance(spec, str):
        kind, tokens = split_spec(spec)
        cls = lookup_qdisc(kind)
        options = cls.parse_options(tokens) if opt is None else opt
        text = spec
    else:
        cls = spec
        if not QDISC_OPS.is_registered(cls):
            QDISC_OPS.validate(cls)
        options = opt if opt is not None else cls.parse_options([])
        text = cls.id
    if handle is None:
        handle = next_handle(dev, parent_q)
    q = Qdisc(cls, dev, handle, parent=parent, parent_q=parent_q, factory=create_qdisc)
    q.spec = text
    try:
        q.init(options)
    except KernelError as exc:
        raise UserError(f"qdisc {cls.id}: {exc}") from exc
    return q
