"""Loading what a user asks ``qdisclab check`` to check, and checking each one.

``FILE.py`` (every ``QdiscOps`` subclass it defines, else every
``CongestionOps`` subclass), ``FILE.py:Name`` (a qdisc, a congestion
control, or a tcx program: a function or callable taking ``ctx``), or
``OBJ.o[:NAME]`` (a compiled BPF object: its qdisc, congestion control or tc
programs, each checked as its Python twin is; see :mod:`qdisclab.check.bpf_object`).

>>> result = check_target(Target.from_spec("pfifo limit 10"), examples=5)
>>> result.ok, result.name
(True, 'pfifo limit 10')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdisclab.check.coverage import Coverage
from qdisclab.check.explore import (
    DEFAULT_EXAMPLES,
    DEFAULT_MAX_OPS,
    Target,
    explore,
    registration_finding,
)
from qdisclab.check.finding import REGISTRATION, Finding
from qdisclab.errors import KernelError, UserError
from qdisclab.ops.ownership import POLICY_STRICT
from qdisclab.ops.userfile import import_failure, import_user_file
from qdisclab.sched import QdiscOps
from qdisclab.tcp.congestion import CongestionOps


@dataclass
class CheckResult:
    """The outcome for one extension: its findings (empty when clean) and what was covered."""

    name: str
    cls_name: str
    findings: list[Finding] = field(default_factory=list)
    examples: int = 0
    coverage: Any = None  # Coverage, or a congestion control's / program's own summary
    what: str = "qdisc"

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            self.what: self.name,
            "class": self.cls_name,
            "ok": self.ok,
            "examples": self.examples,
            "findings": [f.as_dict() for f in self.findings],
            "coverage": self.coverage.as_dict() if self.coverage is not None else None,
        }


def _import_file(path: Path) -> tuple[Any, Finding | None]:
    """Import ``path`` once per process; a registration refused at import is a finding."""
    try:
        return import_user_file(path), None
    except KernelError as exc:
        # A @register_qdisc at import time refused the class: that is a finding.
        return None, Finding(REGISTRATION, str(exc), errno=exc.errno_name)
    except UserError:
        raise
    except (Exception, SystemExit, KeyboardInterrupt) as exc:
        raise import_failure(path, exc) from None


def _is_sub(obj: Any, base: type) -> bool:
    return isinstance(obj, type) and issubclass(obj, base) and obj is not base


def load_targets(ref: str) -> tuple[list[Any], Finding | None]:
    """What ``FILE.py[:Name]`` defines to check (and an import-time finding)."""
    file_part, sep, name = ref.partition(":")
    path = Path(file_part)
    if not path.is_file():
        raise UserError(f"file {file_part!r} does not exist")
    module, finding = _import_file(path)
    if module is None:
        return [], finding
    if sep:
        obj = getattr(module, name, None)
        if obj is None:
            names = sorted(n for n, v in vars(module).items()
                           if _is_sub(v, QdiscOps) or _is_sub(v, CongestionOps))  # fmt: skip
            raise UserError(f"{file_part!r} has no class {name!r} "
                            f"(qdiscs and congestion controls it defines: "
                            f"{', '.join(names) or 'none'})")  # fmt: skip
        if not (_is_sub(obj, QdiscOps) or _is_sub(obj, CongestionOps) or callable(obj)):
            raise UserError(f"{file_part}:{name} is neither a QdiscOps or CongestionOps subclass "
                            "nor a tcx program (a function prog(ctx))")  # fmt: skip
        return [obj], None
    own = [v for v in vars(module).values() if getattr(v, "__module__", None) == module.__name__]
    classes = [v for v in own if _is_sub(v, QdiscOps)] or [v for v in own
                                                           if _is_sub(v, CongestionOps)]  # fmt: skip
    if not classes:
        raise UserError(f"{file_part!r} defines no QdiscOps or CongestionOps subclass "
                        "(name a tcx program as FILE.py:function)")  # fmt: skip
    return classes, None


def load_qdisc_classes(ref: str) -> tuple[list[type[QdiscOps]], Finding | None]:
    """The ``QdiscOps`` subclasses ``FILE.py[:Class]`` defines (and an import-time finding)."""
    targets, finding = load_targets(ref)
    qdiscs = [t for t in targets if _is_sub(t, QdiscOps)]
    if targets and not qdiscs:
        raise UserError(f"{ref} is not a QdiscOps subclass")
    return qdiscs, finding


def check_target(
    target: Target,
    examples: int = DEFAULT_EXAMPLES,
    seed: int | None = None,
    policy: str = POLICY_STRICT,
    max_ops: int = DEFAULT_MAX_OPS,
) -> CheckResult:
    """Validate then explore one qdisc; returns its ``CheckResult`` with coverage."""
    result = CheckResult(target.name, target.cls.__name__, examples=examples)
    bad = registration_finding(target.cls)
    if bad is not None:
        result.findings.append(bad)
        return result
    result.coverage = Coverage()
    finding = explore(target, examples=examples, seed=seed, policy=policy, max_ops=max_ops,
                      coverage=result.coverage)  # fmt: skip
    if finding is not None:
        result.findings.append(finding)
    return result


def _program(obj: Any, ref: str) -> Any:
    """A tcx program: the function itself, or an instance of the class named (``prog(ctx)``)."""
    if not isinstance(obj, type):
        return obj
    try:
        program = obj()
    except Exception as exc:
        raise UserError(f"{ref}: a tcx program class must be constructible with no arguments "
                        f"({type(exc).__name__}: {exc})") from None  # fmt: skip
    if not callable(program):
        raise UserError(f"{ref}: a tcx program class needs __call__(self, ctx) returning TCX_*")
    return program


def check_file(
    ref: str,
    examples: int = DEFAULT_EXAMPLES,
    seed: int | None = None,
    policy: str = POLICY_STRICT,
    options: str = "",
    max_ops: int = DEFAULT_MAX_OPS,
) -> list[CheckResult]:
    """Check what ``ref`` names (see the module doc); ``options``: tc-syntax tokens for a qdisc."""
    if ref.partition(":")[0].endswith(".o"):
        from qdisclab.check.bpf_object import check_object_file

        return check_object_file(ref, examples, seed, policy, options, max_ops)
    targets, finding = load_targets(ref)
    if finding is not None:
        return [CheckResult(ref, ref.partition(":")[2] or Path(ref).name, [finding])]
    results = []
    for obj in targets:
        if options and not _is_sub(obj, QdiscOps):
            raise UserError(f"--options are a qdisc's tc-syntax options; {ref} is not a qdisc")
        if _is_sub(obj, QdiscOps):
            results.append(check_target(Target(obj, options.split()), examples, seed, policy,
                                        max_ops))  # fmt: skip
        elif _is_sub(obj, CongestionOps):
            from qdisclab.check.cc import check_congestion_control

            results.append(check_congestion_control(obj, examples, seed, max_ops, policy))
        else:
            from qdisclab.check.tcx_program import check_tcx_program

            results.append(check_tcx_program(_program(obj, ref), ref, examples, seed, max_ops,
                                             policy))  # fmt: skip
    return results
