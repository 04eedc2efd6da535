"""Verifying a whole object at load time: every program at its attach point, or the first refusal.

:func:`verify_object` runs the verifier over each :func:`~.adapter.targets`
entry and returns one :class:`ProgramVerdict` per program (the first
refusal stops it, as the kernel's load stops at the first program it
refuses); :func:`check_object` raises the :class:`ObjectRejected` a load
path turns into its one-line error, and :func:`verify_once` is that check
cached on a kind class made from the object.

>>> from qdisclab.bpf.objects import load_object
>>> verdicts = verify_object(load_object("examples/bpf/fifo.bpf.o"))
>>> [(v.target.member, v.accepted) for v in verdicts]
[('enqueue', True), ('dequeue', True), ('init', True), ('reset', True), ('destroy', True)]
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from qdisclab.bpf.btf import BTF_KIND_FUNC
from qdisclab.bpf.code import Code
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.isa import decode
from qdisclab.bpf.objects import BpfObject
from qdisclab.bpf.program import BPF_PSEUDO_CALL
from qdisclab.bpf.proven import Access
from qdisclab.bpf.verifier.adapter import Target, program_code, program_proto, targets
from qdisclab.bpf.verifier.log import VerificationError
from qdisclab.bpf.verifier.verifier import VerifyStats, verify
from qdisclab.ops.ownership import POLICY_OFF

BTF_FUNC_GLOBAL = 1


@dataclass(frozen=True)
class ProgramVerdict:
    """One program's result: ``stats`` when accepted, ``error`` when refused; ``seconds`` taken."""

    target: Target
    stats: VerifyStats | None
    error: VerificationError | None
    seconds: float

    @property
    def accepted(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        """The kernel's closing line: ``processed N insns ...`` or the refusal."""
        err = self.error
        if err is not None:
            where = f" [{err.source}]" if err.source else ""
            return f"{self.target.name}: insn {err.slot}: {err.message} ({err.rule}){where}"
        s = self.stats
        assert s is not None
        return (
            f"{self.target.name}: accepted: processed {s.insns_processed} insns, "
            f"total_states {s.states}, peak_states {s.peak_states_per_insn}, "
            f"pruned {s.pruned} ({self.seconds:.2f} s)"
        )


class ObjectRejected(BpfLoadError):
    """An object the verifier refuses: one line naming program, rule and source line."""

    def __init__(self, path: str, verdict: ProgramVerdict) -> None:
        assert verdict.error is not None
        self.verdict = verdict
        super().__init__(
            path,
            f"verifier refused {verdict.summary()}; the object is not loaded "
            f"(log: qdisclab bpf verify --static {path}; --policy off loads it unverified, "
            "under the run-time ownership checker)",
        )


def verify_target(obj: BpfObject, target: Target) -> ProgramVerdict:
    """Verify one program at its attach point."""
    start = time.perf_counter()
    code = program_code(target.program)
    try:
        _check_global_calls(obj, target, code)
        stats = verify(code, program_proto(obj, target))
    except VerificationError as err:
        err.program = target.name
        return ProgramVerdict(target, None, err, time.perf_counter() - start)
    return ProgramVerdict(target, stats, None, time.perf_counter() - start)


def verify_object(obj: BpfObject, stop_at_first: bool = True) -> list[ProgramVerdict]:
    """Verdicts for the object's programs in load order (see the module docstring)."""
    out = []
    for target in targets(obj):
        verdict = verify_target(obj, target)
        out.append(verdict)
        if stop_at_first and not verdict.accepted:
            break
    return out


def check_object(obj: BpfObject) -> dict[str, Mapping[int, Access]]:
    """Raise :class:`ObjectRejected` for the first program the verifier refuses.

    Returns what the verifier proved about each program's memory accesses
    (:mod:`qdisclab.bpf.proven`), by program name.
    """
    proven: dict[str, Mapping[int, Access]] = {}
    for verdict in verify_object(obj):
        if not verdict.accepted:
            raise ObjectRejected(obj.path, verdict)
        assert verdict.stats is not None
        proven[verdict.target.program.name] = verdict.stats.accesses
    return proven


def verify_once(kind: type, policy: str | None = None) -> None:
    """The verifier over ``kind.obj`` once per kind class; its refusal raised at every attach.

    The load-time hook of a kind made from an object (a BPF qdisc's), for an
    instance running under ownership ``policy``: ``off`` skips it, as does a
    kind whose class sets ``refusal = None`` itself (made unverified). A kind
    verified here keeps the verifier's proven accesses in ``kind.proven``
    (program name -> slot -> :class:`~qdisclab.bpf.proven.Access`).
    """
    if policy == POLICY_OFF:
        return
    if "refusal" not in kind.__dict__:
        try:
            kind.proven = check_object(kind.obj)  # type: ignore[attr-defined]
            kind.refusal = None  # type: ignore[attr-defined]
        except ObjectRejected as exc:
            kind.refusal = exc  # type: ignore[attr-defined]
    if kind.refusal is not None:  # type: ignore[attr-defined]
        raise kind.refusal  # type: ignore[attr-defined]


def verify_program(obj: BpfObject, name: str, policy: str | None = None) -> None:
    """The verifier over program ``name`` of ``obj`` at its attach point; raises its refusal.

    The load-time hook of a compiled tc program (``tcx_program``); ``off`` skips it.
    """
    if policy == POLICY_OFF:
        return
    for target in targets(obj):
        if target.program.name == name:
            verdict = verify_target(obj, target)
            if not verdict.accepted:
                raise ObjectRejected(obj.path, verdict)


def _check_global_calls(obj: BpfObject, target: Target, code: Code) -> None:
    """A call into a global function: the kernel verifies it alone; qdisclab does not model that."""
    btf, program = obj.btf, target.program
    if btf is None:
        return
    global_at = {
        f.slot: f.name
        for f in program.func_info[1:]
        if f.type_id and btf[f.type_id].kind == BTF_KIND_FUNC
        and btf[f.type_id].linkage == BTF_FUNC_GLOBAL
    }  # fmt: skip
    if not global_at:
        return
    for insn in decode(program.insns):
        if insn.code == 0x85 and insn.src == BPF_PSEUDO_CALL:
            callee = insn.slot + 1 + insn.imm
            if callee in global_at:
                message = (
                    f"global function {global_at[callee]} is not supported by the verifier "
                    "(global subprograms are not modelled)"
                )
                raise VerificationError(
                    program.name, "unsupported", message, insn.slot,
                    source=code.source_line(insn.slot) if code.source_line else None,
                    detail="make it static (__always_inline or static __noinline), "
                    "or load with --policy off",
                )  # fmt: skip
