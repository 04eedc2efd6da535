"""Mutants of the compiled corpus: one instruction changed breaks one rule, and the verifier names it.

Starting from every good object of examples/bpf, each program is mutated
one instruction at a time, at the places a rule hangs on:

* a NULL check after a call that may return NULL (a map lookup,
  ``bpf_obj_new``, a list or rbtree pop, ``bpf_kptr_xchg``, a child
  dequeue) tests the frame pointer instead, so the pointer goes unchecked
  → ``null-check``;
* a release (``bpf_kfree_skb``, ``bpf_qdisc_skb_drop``, ``bpf_obj_drop``)
  becomes ``r0 = 0`` → ``reference-leak``;
* a ``bpf_spin_unlock`` becomes ``r0 = 0`` → ``spin-lock``;
* the constant a tc program or enqueue returns becomes one past its range
  → ``return-range``.

Only instructions some path of the good program reaches are mutated (the
verifier knows, as the kernel's does, that ``to_free`` is never NULL in
enqueue, so code behind ``if (!to_free)`` is dead).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator

import pytest
from bpf_corpus import OBJECTS

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code
from qdisclab.bpf.objects import load_object
from qdisclab.bpf.verifier import VerificationError, verify
from qdisclab.bpf.verifier.adapter import program_code, program_proto, targets
from qdisclab.bpf.verifier.proto import KF_RET_NULL, ProgramProto, RetKind

GOOD = [p for p in OBJECTS if "must_fail" not in p.parts]
RELEASES = {"bpf_kfree_skb", "bpf_qdisc_skb_drop", "bpf_obj_drop_impl"}
SPIN_UNLOCK = 94
FRAME_POINTER = 10  # R10, never NULL
MOV64_IMM = isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_K
MOV_X = isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X
NULLABLE = {
    RetKind.MAP_VALUE_OR_NULL,
    RetKind.KPTR_OLD,
    RetKind.GRAPH_NODE_OR_NULL,
    RetKind.GRAPH_NODE_NONOWNING,
}

Patch = tuple[int, int, int, int, int]  # slot, code, dst, off, imm
Mutant = tuple[str, Patch, str]


def _may_return_null(insn: isa.Insn, code: Code, proto: ProgramProto) -> bool:
    if insn.src == isa.BPF_PSEUDO_KFUNC_CALL:
        fn = proto.kfuncs.get(code.symbols.get(insn.slot, ""))
    else:
        fn = proto.helpers.get(insn.imm)
    return fn is not None and (fn.ret in NULLABLE or bool(fn.flags & KF_RET_NULL))


def _null_check(insns: list[isa.Insn], k: int) -> isa.Insn | None:
    """The first ``if rX ==/!= 0`` on the result of the call at ``k`` (through moves)."""
    regs = {0}
    for nxt in insns[k + 1 : k + 12]:
        if nxt.code == MOV_X and nxt.src in regs:
            regs.add(nxt.dst)
        elif nxt.code in (isa.BPF_JMP | isa.BPF_JEQ, isa.BPF_JMP | isa.BPF_JNE) and nxt.imm == 0:
            if nxt.dst in regs:
                return nxt
        elif nxt.code == isa.CALL or nxt.code == isa.EXIT:
            return None
    return None


def mutants(code: Code, proto: ProgramProto) -> Iterator[Mutant]:
    """(what, patch, the rule it breaks) for each mutation point of one program."""
    insns = list(isa.decode(code.insns))
    for k, insn in enumerate(insns):
        if insn.code == isa.CALL and insn.src != isa.BPF_PSEUDO_CALL:
            name = code.symbols.get(insn.slot) if insn.src == isa.BPF_PSEUDO_KFUNC_CALL else None
            if name in RELEASES:
                yield (
                    f"{name} removed at {insn.slot}",
                    (insn.slot, MOV64_IMM, 0, 0, 0),
                    ("reference-leak"),
                )
            if insn.src == 0 and insn.imm == SPIN_UNLOCK:
                yield f"unlock removed at {insn.slot}", (insn.slot, MOV64_IMM, 0, 0, 0), "spin-lock"
            check = _null_check(insns, k) if _may_return_null(insn, code, proto) else None
            if check is not None:
                patch = (check.slot, check.code, FRAME_POINTER, check.off, 0)
                yield f"NULL check at {check.slot} tests r10", patch, "null-check"
        prev = insns[k - 1] if k else None
        if (
            insn.code == isa.EXIT
            and proto.ret_range is not None
            and prev is not None
            and prev.dst == 0
            and prev.code in (MOV64_IMM, isa.BPF_ALU | isa.BPF_MOV | isa.BPF_K)
        ):
            bad = proto.ret_range[1] + 1
            yield f"returns {bad} at {prev.slot}", (prev.slot, prev.code, 0, 0, bad), "return-range"


def _apply(code: Code, patch: Patch) -> Code:
    slot, op, dst, off, imm = patch
    raw = bytearray(code.insns)
    struct.pack_into("<BBhi", raw, slot * 8, op, dst, off, imm)
    return dataclasses.replace(code, insns=bytes(raw))


def _cases() -> list[tuple[str, Code, ProgramProto, Patch, str]]:
    out = []
    for path in GOOD:
        obj = load_object(path)
        for target in targets(obj):
            code, proto = program_code(target.program), program_proto(obj, target)
            reached = verify(code, proto).reached
            for what, patch, rule in mutants(code, proto):
                if patch[0] in reached:
                    out.append((f"{target.program.name}: {what}", code, proto, patch, rule))
    return out


CASES = _cases()


def test_enough_mutants_of_every_rule_kind():
    rules = [c[4] for c in CASES]
    assert len(CASES) >= 30
    assert {"null-check", "reference-leak", "spin-lock", "return-range"} <= set(rules)


@pytest.mark.parametrize(
    ("what", "code", "proto", "patch", "rule"), CASES, ids=[c[0] for c in CASES]
)
def test_mutant_is_refused_naming_the_broken_rule(what, code, proto, patch, rule):
    with pytest.raises(VerificationError) as caught:
        verify(_apply(code, patch), proto)
    assert caught.value.rule == rule, caught.value.report()
    assert caught.value.source, "the refusal names a source line"
