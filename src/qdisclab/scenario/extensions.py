"""Loading user code named as ``package.module:Name`` or ``path/to/file.py:Name``.

>>> load_object("qdisclab.sched.qdiscs.pfifo:Pfifo").id
'pfifo'
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from qdisclab.errors import UserError
from qdisclab.ops.userfile import import_failure, import_user_file


def load_object(ref: str, base_dir: Path | None = None, *, program: bool = False) -> Any:
    """Import and return the object ``ref`` names; ``UserError`` saying what is wrong.

    ``program``: the object is run on packets (a tcx, netkit or filter program),
    so it must be callable.
    """
    obj = _load(ref, base_dir)
    if program and not callable(obj):
        raise UserError(f"{ref!r} is not callable (found {type(obj).__name__}); a program "
                        "is a function prog(ctx) returning a verdict")  # fmt: skip
    return obj


def _load(ref: str, base_dir: Path | None) -> Any:
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
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            raise import_failure(path, exc) from None
    else:
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise UserError(f"cannot import module {module_part!r}: {exc}") from None
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            raise import_failure(Path(module_part), exc) from None
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
        raise UserError(f"{_short_repr(cls)} is not a class")
    _check_declared_options(cls)
    for predicate, register, what in EXTENSION_KINDS:
        if predicate(cls):
            register(cls)
            return what
    kinds = ", ".join(w for _, _, w in EXTENSION_KINDS)
    raise UserError(f"class {cls.__name__} is not an extension kind qdisclab knows ({kinds})")


def _short_repr(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_declared_options(cls: type) -> None:
    """A qdisc class's ``options`` must map option names to ``Opt`` declarations.

    Checked when the class is registered, so a table holding a plain value
    (``options = {"limit": 5}``) is reported with the class instead of failing
    later inside option parsing.
    """
    from qdisclab.sched import QdiscOps
    from qdisclab.sched.options import Opt

    if not issubclass(cls, QdiscOps):
        return
    options = getattr(cls, "options", {})
    if not isinstance(options, dict):
        raise UserError(f"class {cls.__name__}: options must be a dict of name -> Opt, "
                        f"found {type(options).__name__}")  # fmt: skip
    for name, opt in options.items():
        if not isinstance(name, str) or not isinstance(opt, Opt):
            raise UserError(f"class {cls.__name__}: options[{name!r}] must be an Opt "
                            f"(e.g. Opt('count', 1000)), found {_short_repr(opt)}")  # fmt: skip
