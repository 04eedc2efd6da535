"""Registering qdisc kinds and creating qdiscs from tc-syntax specs.

Built-in kinds live one per file in ``qdisclab.sched.qdiscs`` and register
themselves with ``@register_qdisc`` when that package is imported; user kinds
register the same way, through the same validation.

>>> "pfifo" in qdisc_kinds()
True
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from qdisclab.errors import KernelError, UserError
from qdisclab.sched.constants import TC_H_ROOT
from qdisclab.sched.handle import next_handle
from qdisclab.sched.ops import QDISC_OPS, QdiscOps
from qdisclab.sched.options import split_spec
from qdisclab.sched.qdisc import Qdisc

_builtins_loaded = False


def register_qdisc(cls: type[QdiscOps]) -> type[QdiscOps]:
    """Validate and register a qdisc kind (``bpf_qdisc_reg`` -> ``register_qdisc``).

    Usable as a class decorator. Raises ``KernelError`` (EINVAL, ENOTSUPP, EEXIST).
    Built-in kinds are loaded first, so a user kind cannot shadow ``pfifo``.
    """
    load_builtins()
    QDISC_OPS.register(cls)
    return cls


def unregister_qdisc(kind: str) -> None:
    """Remove a kind's name; live instances keep running."""
    QDISC_OPS.unregister(kind)


def update_qdisc(kind: str, cls: type[QdiscOps]) -> None:
    """Swap the class behind ``kind`` for new instances (struct_ops link update)."""
    QDISC_OPS.update(kind, cls)


def load_builtins() -> None:
    """Import every module of ``qdisclab.sched.qdiscs`` (each registers its kind)."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    import qdisclab.sched.qdiscs as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def lookup_qdisc(kind: str) -> type[QdiscOps]:
    load_builtins()
    cls = QDISC_OPS.lookup(kind)
    if cls is None:
        raise UserError(f"unknown qdisc kind '{kind}' (known: {', '.join(QDISC_OPS.kinds())})")
    return cls


def qdisc_kinds() -> list[str]:
    load_builtins()
    return QDISC_OPS.kinds()


def builtin_qdisc_kinds() -> list[str]:
    """The kinds shipped in ``qdisclab.sched.qdiscs`` (not user or test kinds registered since)."""
    load_builtins()
    return [
        kind
        for kind in QDISC_OPS.kinds()
        if QDISC_OPS.lookup(kind).__module__.startswith("qdisclab.sched.qdiscs.")
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
