"""Optional compilation of the hot modules with mypyc; everything else is in pyproject.toml.

The modules to compile are listed once, in ``[tool.qdisclab.compile] modules``
of pyproject.toml. They are compiled together (one mypyc group, one shared
library) when mypyc, a working C compiler and the Python headers are present;
otherwise, or with ``QDISCLAB_PURE=1`` set at build time, the install is pure
Python and the build says why in one line. Either way the build writes
``qdisclab/_native.txt``: what was compiled, from which sources (their
SHA-256), so that at run time ``qdisclab._native`` can tell a compiled install
from one whose sources were edited since (and then runs pure).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"
MANIFEST = "qdisclab/_native.txt"  # read by src/qdisclab/_native.py


def say(line: str) -> None:
    """One line on stderr, which pip shows (pip -v) and the build log keeps."""
    print(f"qdisclab build: {line}", file=sys.stderr, flush=True)


def compile_modules() -> list[str]:
    """The dotted module names listed in pyproject.toml's [tool.qdisclab.compile]."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        config = tomllib.load(f)
    modules: list[str] = config["tool"]["qdisclab"]["compile"]["modules"]
    return modules


def module_path(module: str) -> Path:
    return SRC / (module.replace(".", "/") + ".py")


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def why_not_compiled() -> str | None:
    """Why this build cannot compile (None when it can): switch, mypyc, compiler, headers."""
    if os.environ.get("QDISCLAB_PURE", "") not in ("", "0"):
        return "QDISCLAB_PURE is set"
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypyc is not installed (it comes with mypy)"
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    argv = shlex.split(cc)
    if not argv or shutil.which(argv[0]) is None:
        return f"no C compiler ({cc!r} not found)"
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        return f"no Python headers (Python.h not in {include})"
    # A compiler that exists but cannot build against these headers is as good as none.
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.c"
        probe.write_text("#include <Python.h>\nint main(void) { return 0; }\n")
        result = subprocess.run(
            [*argv, f"-I{include}", "-c", str(probe), "-o", str(Path(tmp) / "probe.o")],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            first = (result.stderr.strip().splitlines() or ["no output"])[0]
            return f"the C compiler {cc!r} cannot build against Python.h ({first})"
    return None


#: Commands that only write metadata (pip asks for it before building): no need to compile.
METADATA_ONLY = {"egg_info", "dist_info"}
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"}


def mypyc_extensions(modules: list[str]) -> list[object]:
    """The mypyc extensions for ``modules`` (one group), or [] with the reason said once."""
    argv = set(sys.argv[1:])
    if argv & METADATA_ONLY and not argv & BUILDS:
        return []
    reason = why_not_compiled()
    if reason is None:
        from mypyc.build import mypycify

        try:
            return list(
                mypycify(
                    # The compiled modules must check clean; errors in the modules they
                    # import are the strict type check's to report (tests/install), not the build's.
                    ["--follow-imports=silent"]
                    + [str(module_path(m).relative_to(ROOT)) for m in modules],
                    opt_level="3",
                    group_name="qdisclab_native",
                )
            )
        except (Exception, SystemExit) as exc:  # mypyc exits on type errors
            reason = f"mypyc failed ({exc.__class__.__name__}: {exc}; run `mypy` to see why)"
    say(f"installing pure Python: {reason}")
    BuildInfo.pure_reason = reason
    return []


class BuildInfo:
    """What this build produced, for the manifest."""

    pure_reason: str | None = None


def manifest_text(modules: list[str], compiled: bool) -> str:
    if not compiled:
        return f"pure {BuildInfo.pure_reason}\n"
    import mypy.version

    lines = [f"mypyc {mypy.version.__version__}"]
    lines += [f"module {m} {source_digest(module_path(m))}" for m in modules]
    return "\n".join(lines) + "\n"


class BuildExt(build_ext):
    """build_ext that falls back to pure Python when compiling fails, and writes the manifest."""

    def run(self) -> None:
        modules = compile_modules()
        compiled = bool(self.extensions)
        if compiled:
            try:
                super().run()
            except (Exception, SystemExit) as exc:  # a compiler error, a missing library
                BuildInfo.pure_reason = f"the C build failed ({exc})"
                say(f"installing pure Python: {BuildInfo.pure_reason}")
                self._remove_outputs()
                compiled = False
        self._write_manifest(manifest_text(modules, compiled))

    def _remove_outputs(self) -> None:
        for output in self.get_outputs():
            Path(output).unlink(missing_ok=True)
        self.extensions = []

    def get_outputs(self) -> list[str]:
        return [*super().get_outputs(), self._manifest_path()]

    def _manifest_path(self) -> str:
        base = SRC if self.inplace else Path(self.build_lib)
        return str(base / MANIFEST)

    def _write_manifest(self, text: str) -> None:
        path = Path(self._manifest_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if self.inplace and text.startswith("pure"):
            # An editable checkout rebuilt pure: compiled modules of an earlier
            # build would otherwise still shadow their sources.
            stale = [
                p
                for m in compile_modules()
                for p in module_path(m).parent.glob(m.rsplit(".", 1)[1] + ".*.so")
            ]
            for built in [*stale, *SRC.glob("qdisclab_native__mypyc.*.so")]:
                built.unlink()


class BuildPy(build_py):
    """build_py that always runs build_ext first, so even a pure wheel carries a manifest."""

    def run(self) -> None:
        super().run()
        if not self.distribution.ext_modules:
            # Not a sub-command of build without extensions: pass on the editable mode
            # (an editable install writes the manifest into the source tree).
            ext = self.distribution.get_command_obj("build_ext")
            ext.editable_mode = getattr(self, "editable_mode", False)  # type: ignore[attr-defined]
            self.run_command("build_ext")


setup(
    ext_modules=mypyc_extensions(compile_modules()),  # type: ignore[arg-type]
    cmdclass={"build_ext": BuildExt, "build_py": BuildPy},
)
