"""Loading user code named as ``package.module:Name`` or ``path/to/file.py:Name``.

>>> load_object("qdisclab.sched.qdiscs.pfifo:Pfifo").id
'pfifo'
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from qdisclab.errors import UserError
from qdisclab.ops.userfile import import_user_file


def load_object(ref: str, base_dir: Path | None = None) -> Any:
    """Import and return the object ``ref`` names; ``UserError`` saying what is wrong."""
    module_part, sep, attr = ref.rpartition(":")
    if not sep or not module_part or not attr:
        raise UserError(f"expected 'package.module:Name' or 'path/file.py:Name', found {ref!r}")
    if module_part.endswith(".py") or "/" in module_part:
        path = Path(module_part)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise UserError(f"file {str(path)!r} does not exist")
        try:
            module = import_user_file(path)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"importing {str(path)!r} failed: {type(exc).__name__}: {exc}"
            ) from None
    else:
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise UserError(f"cannot import module {module_part!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        names = sorted(n for n in vars(module) if not n.startswith("_"))
        raise UserError(
            f"{module_part!r} has no {attr!r} (it defines: {', '.join(names) or 'nothing'})"
        ) from None


def register_extension(cls: Any) -> str:
    """Register a user class with the registry its base class belongs to; returns what it is."""
    from qdisclab.scenario.registry import EXTENSION_KINDS, load_kinds

    load_kinds()
    if not isinstance(cls, type):
        raise UserError(f"{cls!r} is not a class")
    for predicate, register, what in EXTENSION_KINDS:
        if predicate(cls):
            register(cls)
            return what
    kinds = ", ".join(w for _, _, w in EXTENSION_KINDS)
    raise UserError(f"class {cls.__name__} is not an extension kind qdisclab knows ({kinds})")
