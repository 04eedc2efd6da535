"""Which build of qdisclab runs: the mypyc-compiled modules, or the pure-Python sources.

The install (setup.py) compiles the modules listed in pyproject.toml's
``[tool.qdisclab.compile]`` as one group and writes ``_native.txt`` beside this
file: the mypyc version and each compiled module with the SHA-256 of the
source it came from (or ``pure <reason>`` when it did not compile). When the
package is imported, ``select`` decides once, for the whole package, because
the compiled modules share one library and call each other directly:

* compiled, when every listed module's compiled file is there and its source
  is the one it was compiled from;
* pure, when ``QDISCLAB_PURE=1`` is set (to compare both in one install), or
  when any source changed since the build (an edited editable checkout: one
  line on stderr says which and how to rebuild). A finder placed first on
  ``sys.meta_path`` then hands every ``qdisclab.*`` module to the source
  loader, so no compiled module is ever mixed with pure ones.

This module is never compiled itself: it decides for the ones that are.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from importlib.machinery import (
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    FileFinder,
    ModuleSpec,
    SourceFileLoader,
)
from types import ModuleType

# Kept to the modules the interpreter has loaded anyway (no pathlib, dataclasses or hashlib
# at start-up): every qdisclab process, even `--help`, imports this first.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
MANIFEST_NAME = "_native.txt"
PURE_ENV = "QDISCLAB_PURE"
REBUILD_HINT = "rebuild with `pip install -e .` (QDISCLAB_PURE=1 runs pure without this line)"


class BuildInfo:
    """Which build is running, as ``qdisclab --version`` prints it.

    >>> str(BuildInfo(True, "1.19.0", ("qdisclab.sim.scheduler",), None))
    'compiled (mypyc 1.19.0, 1 modules)'
    >>> str(BuildInfo(False, None, (), "QDISCLAB_PURE=1"))
    'pure Python (QDISCLAB_PURE=1)'
    """

    __slots__ = ("compiled", "modules", "mypyc", "reason")

    def __init__(
        self, compiled: bool, mypyc: str | None, modules: tuple[str, ...], reason: str | None
    ) -> None:
        self.compiled = compiled
        self.mypyc = mypyc  # the mypyc version that compiled the install, if it was compiled
        self.modules = modules  # the modules running compiled (empty when pure)
        self.reason = reason  # why it runs pure

    def _key(self) -> tuple[bool, str | None, tuple[str, ...], str | None]:
        return self.compiled, self.mypyc, self.modules, self.reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BuildInfo) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "BuildInfo(compiled={!r}, mypyc={!r}, modules={!r}, reason={!r})".format(
            *self._key()
        )

    def __str__(self) -> str:
        if self.compiled:
            return f"compiled (mypyc {self.mypyc}, {len(self.modules)} modules)"
        return f"pure Python ({self.reason})"


class SourceOnlyFinder:
    """A meta-path finder that loads every ``qdisclab`` submodule from its ``.py`` source.

    ``loader`` is the source loader to use (a subclass can compile differently).
    """

    def __init__(self, loader: type[SourceFileLoader] = SourceFileLoader) -> None:
        self._loader = loader
        self._finders: dict[str, FileFinder] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if not fullname.startswith("qdisclab.") or path is None:
            return None
        for entry in path:
            finder = self._finders.get(entry)
            if finder is None:
                finder = self._finders[entry] = FileFinder(entry, (self._loader, SOURCE_SUFFIXES))
            spec = finder.find_spec(fullname, target)
            if spec is not None:
                return spec
        return None


def _compiled_file(stem: str) -> str | None:
    for suffix in EXTENSION_SUFFIXES:
        if os.path.exists(stem + suffix):
            return stem + suffix
    return None


def _stale(root: str, module: str, digest: str) -> str | None:
    """Why ``module``'s compiled file cannot be used (None when it matches its source)."""
    stem = os.path.join(root, *module.split("."))
    rel = f"src/{module.replace('.', '/')}.py"
    compiled = _compiled_file(stem)
    if compiled is None:
        return f"{module} has no compiled file"
    try:
        source_mtime = os.stat(stem + ".py").st_mtime_ns
    except OSError:
        return f"{rel} is missing"
    if source_mtime <= os.stat(compiled).st_mtime_ns:
        return None  # not touched since the build (the common case: no hashing)
    import hashlib  # only for a source touched since the build

    with open(stem + ".py", "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != digest:
            return f"{rel} changed since it was compiled"
    return None


def read_manifest(text: str) -> tuple[str | None, dict[str, str], str | None]:
    """``(mypyc version, {module: source sha256}, pure reason)`` from a manifest's text."""
    version: str | None = None
    modules: dict[str, str] = {}
    pure: str | None = None
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "mypyc":
            version = rest.strip()
        elif kind == "module":
            name, _, digest = rest.partition(" ")
            modules[name] = digest.strip()
        elif kind == "pure":
            pure = rest.strip() or "not compiled at install"
    return version, modules, pure


def decide(
    package_dir: str | os.PathLike[str] = PACKAGE_DIR, environ: Mapping[str, str] = os.environ
) -> tuple[BuildInfo, str | None]:
    """The build to run and, when a compiled install must run pure, the warning to print."""
    package_dir = os.fspath(package_dir)
    try:
        with open(os.path.join(package_dir, MANIFEST_NAME)) as f:
            text = f.read()
    except OSError:
        return BuildInfo(False, None, (), "not compiled: no build manifest"), None
    version, modules, pure = read_manifest(text)
    if pure is not None or not modules:
        return BuildInfo(False, None, (), f"not compiled at install: {pure}"), None
    if environ.get(PURE_ENV, "") not in ("", "0"):
        return BuildInfo(False, version, (), f"{PURE_ENV}={environ[PURE_ENV]}"), None
    for module, digest in modules.items():
        why = _stale(os.path.dirname(package_dir), module, digest)
        if why is not None:
            reason = f"stale build: {why}"
            return BuildInfo(False, version, (), reason), (
                f"qdisclab: running pure Python, {reason}; {REBUILD_HINT}"
            )
    return BuildInfo(True, version, tuple(modules), None), None


_INFO: BuildInfo | None = None


def select() -> BuildInfo:
    """Decide once per process (``qdisclab/__init__`` calls it before any submodule loads)."""
    global _INFO
    if _INFO is None:
        info, warning = decide()
        if not info.compiled and info.mypyc is not None:
            sys.meta_path.insert(0, SourceOnlyFinder())
        if warning is not None:
            print(warning, file=sys.stderr)
        _INFO = info
    return _INFO


def build_info() -> BuildInfo:
    """Which build this process runs: compiled with mypyc, or pure Python and why.

    ``print(qdisclab.build_info())`` gives the line ``qdisclab --version`` ends with,
    e.g. ``compiled (mypyc 1.19.0, 7 modules)`` or ``pure Python (QDISCLAB_PURE=1)``.
    """
    return select()
