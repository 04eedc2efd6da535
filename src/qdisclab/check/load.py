"""Loading the qdiscs a user file defines, and checking each one.

>>> result = check_target(Target.from_spec("pfifo limit 10"), examples=5)
>>> result.ok, result.name
(True, 'pfifo limit 10')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdisclab.check.explore import (
    REGISTRATION,
    Finding,
    Target,
    explore,
    registration_finding,
)
from qdisclab.errors import KernelError, UserError
from qdisclab.ops.ownership import POLICY_STRICT
from qdisclab.ops.userfile import import_failure, import_user_file
from qdisclab.sched import QdiscOps


@dataclass
class CheckResult:
    """The outcome for one qdisc class: its findings (empty when clean)."""

    name: str
    cls_name: str
    findings: list[Finding] = field(default_factory=list)
    examples: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "qdisc": self.name,
            "class": self.cls_name,
            "ok": self.ok,
            "examples": self.examples,
            "findings": [f.as_dict() for f in self.findings],
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


def load_qdisc_classes(ref: str) -> tuple[list[type[QdiscOps]], Finding | None]:
    """The ``QdiscOps`` subclasses ``FILE.py[:Class]`` defines (and an import-time finding)."""
    file_part, sep, cls_name = ref.partition(":")
    path = Path(file_part)
    if not path.is_file():
        raise UserError(f"file {file_part!r} does not exist")
    module, finding = _import_file(path)
    if module is None:
        return [], finding
    if sep:
        obj = getattr(module, cls_name, None)
        if obj is None:
            names = sorted(n for n, v in vars(module).items() if _is_qdisc(v))
            raise UserError(f"{file_part!r} has no class {cls_name!r} "
                            f"(qdiscs it defines: {', '.join(names) or 'none'})")  # fmt: skip
        if not _is_qdisc(obj):
            raise UserError(f"{file_part}:{cls_name} is not a QdiscOps subclass")
        return [obj], None
    classes = [v for v in vars(module).values()
               if _is_qdisc(v) and v.__module__ == module.__name__]  # fmt: skip
    if not classes:
        raise UserError(f"{file_part!r} defines no QdiscOps subclass")
    return classes, None


def _is_qdisc(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, QdiscOps) and obj is not QdiscOps


def check_target(
    target: Target,
    examples: int = 200,
    seed: int | None = None,
    policy: str = POLICY_STRICT,
) -> CheckResult:
    """Validate then explore one qdisc; returns its ``CheckResult``."""
    result = CheckResult(target.name, target.cls.__name__, examples=examples)
    bad = registration_finding(target.cls)
    if bad is not None:
        result.findings.append(bad)
        return result
    finding = explore(target, examples=examples, seed=seed, policy=policy)
    if finding is not None:
        result.findings.append(finding)
    return result


def check_file(
    ref: str,
    examples: int = 200,
    seed: int | None = None,
    policy: str = POLICY_STRICT,
    options: str = "",
) -> list[CheckResult]:
    """Check every qdisc ``FILE.py[:Class]`` defines (``options``: tc-syntax tokens for each)."""
    classes, finding = load_qdisc_classes(ref)
    if finding is not None:
        return [CheckResult(ref, ref.partition(":")[2] or Path(ref).name, [finding])]
    return [check_target(Target(cls, options.split()), examples, seed, policy) for cls in classes]
