"""Importing a user's extension file (``path/to/my_qdisc.py``) as a module.

Each file is imported once per process, under a name derived from its
resolved path: importing it again would run its ``@register_qdisc`` (or
``register_cc``) decorators twice and fail with EEXIST. The scenario loader
and ``qdisclab check`` both load user files through here.

>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp()); f = d / "ext.py"
>>> _ = f.write_text("ANSWER = 42\\n")
>>> import_user_file(f).ANSWER, import_user_file(f) is import_user_file(f)
(42, True)
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from qdisclab.errors import UserError


def import_user_file(path: Path) -> ModuleType:
    """The module for ``path``; an exception raised while importing it propagates.

    ``UserError`` when the file cannot be loaded as Python at all. A failed
    import leaves nothing behind, so a fixed file can be imported again.
    """
    path = Path(path).resolve()
    mod_name = "qdisclab_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module = sys.modules.get(mod_name)
    if module is not None:
        return module

    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot load {str(path)!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[mod_name]
        raise
    return module


def import_failure(path: Path, exc: BaseException) -> UserError:
    """The one-line error for a user file whose import raised ``exc``.

    ``sys.exit()`` and ``KeyboardInterrupt`` raised by the file's own code are reported
    as such: they are the file's doing, not a request to stop qdisclab.

    >>> str(import_failure(Path("q.py"), SystemExit(3)))
    "importing 'q.py' failed: it called sys.exit(3)"
    """
    if isinstance(exc, SystemExit):
        what = (
            f"it called sys.exit({exc.code!r})" if exc.code is not None else "it called sys.exit()"
        )
    elif isinstance(exc, KeyboardInterrupt):
        what = "it raised KeyboardInterrupt"
    else:
        what = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return UserError(f"importing {str(path)!r} failed: {what}")
