"""Explore one qdisc kind with generated operation sequences and report what breaks.

The sequences are sized from the qdisc's real options (``generate``): bursts
fill and overflow its limit, time steps run its watchdog and AQM intervals.
Each sequence runs on a fresh world (``QdiscRun``), with the invariants
checked after every packet and operation. The first failing sequence is
shrunk (``shrink``) so a report carries a short trace; ``replay`` re-runs a
trace (or its printed lines, via ``parse_trace``) and gives the same
finding. The sequences come from a seeded RNG (``--seed``; 0 without one):
the same seed gives the same report.

>>> explore(Target.from_spec("pfifo limit 5"), examples=5) is None
True
>>> run = replay(Target.from_spec("pfifo"), parse_trace(["enqueue(len=100, flow=1)"]))
>>> run.lines
['enqueue(len=100, flow=1) -> NET_XMIT_SUCCESS']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qdisclab.check.coverage import Coverage
from qdisclab.check.finding import REGISTRATION, STUCK, Finding, fault_finding
from qdisclab.check.generate import Shape, sequences
from qdisclab.check.qdisc_run import QdiscRun, Stop
from qdisclab.check.shrink import shrink
from qdisclab.check.trace import Op, format_op, parse_trace
from qdisclab.errors import KernelError, UserError
from qdisclab.ops.ownership import POLICY_STRICT
from qdisclab.sched import QDISC_OPS, Qdisc, QdiscOps, create_qdisc, lookup_qdisc

__all__ = ["RunResult", "Shape", "Target", "explore", "parse_trace", "registration_finding",
           "replay"]  # fmt: skip

DEFAULT_EXAMPLES = 200
DEFAULT_MAX_OPS = 30


@dataclass
class Target:
    """The qdisc under test: a ``QdiscOps`` class and its tc-syntax option tokens."""

    cls: type[QdiscOps]
    tokens: list[str] = field(default_factory=list)

    @classmethod
    def from_spec(cls, spec: str) -> Target:
        """A registered kind with options: ``Target.from_spec("tbf rate 1mbit burst 5k limit 10k")``."""
        kind, *tokens = spec.split()
        return cls(lookup_qdisc(kind), tokens)

    @property
    def name(self) -> str:
        return " ".join([self.cls.id or self.cls.__name__, *self.tokens])

    def create(self, dev: Any) -> Qdisc:
        return create_qdisc(self.cls, dev, opt=self.cls.parse_options(list(self.tokens)))


@dataclass
class RunResult:
    """What ``replay`` saw: the trace lines (with results) and the finding, if any."""

    lines: list[str]
    finding: Finding | None


def replay(
    target: Target, ops: list[Op], policy: str = POLICY_STRICT, coverage: Coverage | None = None
) -> RunResult:
    """Play ``ops`` on a fresh world; the first problem ends the run."""
    try:
        run = QdiscRun(target, policy, coverage)
    except (UserError, KernelError):
        raise
    except Exception as exc:
        finding = fault_finding(exc, target.cls.id)
        finding.trace = ["init()"]
        return RunResult(["init()"], finding)
    lines = run.lines
    finding = None
    text = "destroy()"
    try:
        for op in ops:
            text = format_op(op)
            lines.append(f"{text} -> {run.apply(op)}")
            run.check()
        text = "destroy()"
        run.finish()
    except Stop as stop:
        if not lines or not lines[-1].startswith(text):
            shown = "None" if stop.finding.category == STUCK else stop.finding.category
            lines.append(f"{text} -> {shown}{run.where}")
        finding = stop.finding
    except (UserError, KernelError):
        raise
    except Exception as exc:
        lines.append(f"{text} -> raised{run.where}")
        finding = fault_finding(exc, target.cls.id)
    if finding is not None:
        finding.trace = list(lines)
    return RunResult(lines, finding)


def explore(
    target: Target,
    examples: int = DEFAULT_EXAMPLES,
    seed: int | None = None,
    policy: str = POLICY_STRICT,
    max_ops: int = DEFAULT_MAX_OPS,
    coverage: Coverage | None = None,
) -> Finding | None:
    """Play ``examples`` generated sequences; the first failure, shrunk, or None.

    ``coverage`` (if given) collects what the sequences reached.
    """
    try:
        shape = Shape.probe(target)
    except (UserError, KernelError):
        raise
    except Exception:
        return replay(target, [], policy).finding  # init itself fails: reported as replay sees it
    if coverage is not None:
        coverage.limit = shape.limit
        coverage.mtu = shape.mtu
        coverage.watch(target.cls)
    for index, ops in enumerate(sequences(shape, examples, seed, max_ops)):
        if coverage is not None and coverage.profiled(index):
            with coverage.profiling():
                finding = replay(target, ops, policy, coverage).finding
        else:
            finding = replay(target, ops, policy, coverage).finding
        if finding is not None:
            break
    else:
        return None

    def category_of(candidate: list[Op]) -> str | None:
        found = replay(target, candidate, policy).finding
        return None if found is None else found.category

    small = shrink(ops, category_of, shape.sizes, shape.steps)
    return replay(target, small, policy).finding


def registration_finding(cls: type[QdiscOps]) -> Finding | None:
    """Validate ``cls`` as registration would; the error as a finding (with its errno)."""
    try:
        QDISC_OPS.validate(cls)
    except KernelError as exc:
        return Finding(REGISTRATION, str(exc), kind=getattr(cls, "id", "") or cls.__name__,
                       errno=exc.errno_name)  # fmt: skip
    return None
