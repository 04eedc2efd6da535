"""What a rejection says: the kernel-style log tail, one summary line, the path taken.

A :class:`VerificationError` carries the rule broken (a short name from
:data:`RULES`), the kernel's own message for it (``Unreleased reference
id=3 alloc_insn=12``, ``R1 invalid mem access 'map_value_or_null'``, ...),
the instruction and its source line, the last instructions of the failing
path with the registers after each (as ``bpf_verifier_log`` level 1 prints
them), and the branch decisions that led there. ``str()`` is one line;
:meth:`VerificationError.report` is the whole text.

>>> err = VerificationError("enqueue", "reference-leak", "Unreleased reference id=2 alloc_insn=0", 4)
>>> str(err)
'enqueue: insn 4: Unreleased reference id=2 alloc_insn=0 (reference-leak)'
"""

from __future__ import annotations

from collections.abc import Callable

from qdisclab.bpf.asm import format_insn
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.isa import BPF_ALU, BPF_ALU64, BPF_LDX, BPF_MOV, BPF_X, CALL, Insn

RULES = {
    "uninit-register": "a register is read before it is written",
    "null-check": "a pointer that may be NULL is used before it is checked",
    "invalid-mem-access": "memory is accessed through something that is not a valid pointer",
    "use-after-release": "a reference is used after it was released",
    "double-release": "a reference is released twice",
    "release-unreferenced": "a release function gets a pointer that carries no reference",
    "reference-leak": "an acquired reference is not released on every path",
    "stack-bounds": "a stack access is outside the 512-byte frame",
    "stack-uninit": "stack bytes are read before they are written",
    "map-value-bounds": "a map value access is outside the value",
    "packet-bounds": "a packet access is not covered by a check against data_end",
    "ctx-access": "a context access the attach point does not allow",
    "btf-access": "a kernel object access the attach point does not allow",
    "special-field": "a kptr, lock or graph field is touched by a plain load or store",
    "pointer-arithmetic": "arithmetic a pointer does not allow",
    "kfunc-allow-list": "a kfunc is called from a callback its allow-list does not name",
    "unknown-function": "a call to a helper or kfunc the attach point does not provide",
    "argument-type": "a helper or kfunc argument of the wrong type",
    "spin-lock": "a bpf_spin_lock rule",
    "sleepable": "a kfunc that may sleep is called where sleeping is not allowed",
    "return-range": "a return value outside the range the attach point allows",
    "infinite-loop": "a loop that does not terminate",
    "back-edge": "a loop in a program that may not loop",
    "too-complex": "the program needs more states than the verifier explores",
    "unreachable": "an instruction no path reaches",
    "call-depth": "too many nested calls",
    "invalid-insn": "an instruction the verifier does not accept",
    "unsupported": "a feature the verifier does not model, so it cannot prove the program safe",
}

LOG_TAIL = 12
MOV64_X = BPF_ALU64 | BPF_MOV | BPF_X


class VerificationError(BpfLoadError):
    """A program the verifier refuses; see the module docstring for what it carries."""

    def __init__(
        self,
        program: str,
        rule: str,
        message: str,
        slot: int,
        *,
        log: list[str] | None = None,
        source: str | None = None,
        path: list[str] | None = None,
        detail: str = "",
    ) -> None:
        self.program, self.rule, self.message, self.slot = program, rule, message, slot
        self.log = log or []
        self.source = source
        self.path = path or []
        self.detail = detail
        where = f" [{source}]" if source else ""
        super().__init__(program, f"insn {slot}: {message} ({rule}){where}")

    def __str__(self) -> str:
        return self.args[0]

    def report(self) -> str:
        """The log tail, the summary line, the detail, the source line and the branch decisions."""
        lines = list(self.log)
        lines.append(self.message)
        if self.detail:
            lines.append(self.detail)
        lines.append(f"rule: {self.rule} — {RULES.get(self.rule, '')}")
        if self.source:
            lines.append(f"source: {self.source}")
        if self.path:
            lines.append("path: " + ", ".join(self.path))
        return "\n".join(lines)


def format_regs(regs: tuple, live: int = 0x7FF) -> str:
    """``R0=... R1=ctx() R10=fp0`` for the initialized registers."""
    return " ".join(f"R{i}={r}" for i, r in enumerate(regs) if r.type != "?" and live >> i & 1)


def tail(
    history: tuple | None,
    at: dict[int, Insn],
    symbols: dict[int, str],
    source_line: Callable[[int], str | None] | None,
    failing: int,
    limit: int = LOG_TAIL,
) -> list[str]:
    """The last ``limit`` instructions of the failing path, each with the registers after it."""
    steps = []
    node = history
    while node is not None and len(steps) < limit:
        slot, frameno, regs, node = node
        steps.append((slot, frameno, regs))
    steps.reverse()
    lines: list[str] = []
    last_source: str | None = None

    def source(slot: int) -> None:
        nonlocal last_source
        text = source_line(slot) if source_line else None
        if text and text != last_source:
            lines.append(f"; {text}")
            last_source = text

    for slot, frameno, regs in steps:
        source(slot)
        prefix = f"[{frameno}] " if frameno else ""
        lines.append(f"{prefix}{_insn_text(at[slot], symbols)} ; {format_regs(regs)}")
    source(failing)
    if failing in at:
        lines.append(_insn_text(at[failing], symbols))
    return lines


def exit_source(
    rule: str,
    history: tuple | None,
    at: dict[int, Insn],
    source_line: Callable[[int], str | None],
    at_exit: str,
) -> str:
    """The line an exit-time rejection is about; ``at_exit`` is the exit's own line.

    A bad return value: the line that computed R0 (followed back through
    register moves). A leak at an exit clang attributes to the function's
    opening line (a shared epilogue): the last line the path ran before it.
    """
    if rule != "return-range" and at_exit != source_line(0):
        return at_exit
    node, regno = history, 0
    while node is not None:
        slot, _, _, node = node
        text = source_line(slot)
        insn = at[slot]
        if rule != "return-range":
            if text and text != at_exit:
                return text
            continue
        if insn.cls in (BPF_ALU, BPF_ALU64, BPF_LDX) and insn.dst == regno:
            if insn.code == MOV64_X and not insn.off:
                regno = insn.src
                continue
            return text or at_exit
        if insn.code == CALL and regno == 0:
            return text or at_exit
    return at_exit


def _insn_text(insn: Insn, symbols: dict[int, str]) -> str:
    return f"{insn.slot}: ({insn.code:02x}) {format_insn(insn, symbols)}"


def decisions(node: tuple | None) -> list[str]:
    """The branch decisions of a path, oldest first (``insn 5: taken``)."""
    out = []
    while node is not None:
        slot, text, node = node
        out.append(f"insn {slot}: {text}")
    out.reverse()
    return out


class Reject(Exception):
    """Raised inside the verifier at the failing instruction; becomes a :class:`VerificationError`.

    ``before`` is a log line the kernel prints ahead of the summary (the
    ``invalid access to map value, ...`` that precedes ``R1 min value is
    outside of the allowed memory range``); ``detail`` explains in
    qdisclab's words what the kernel's line means here.
    """

    def __init__(self, rule: str, message: str, detail: str = "", before: str = "") -> None:
        super().__init__(message)
        assert rule in RULES, rule
        self.rule, self.message, self.detail, self.before = rule, message, detail, before
