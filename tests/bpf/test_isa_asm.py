"""Decoding, encoding, validation, and the assembler/disassembler round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from test_translate_differential import programs

from qdisclab.bpf import isa
from qdisclab.bpf.asm import assemble, disassemble, format_insn
from qdisclab.bpf.code import Code
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.isa import Insn


def test_decode_fields_and_ld_imm64() -> None:
    raw = bytes.fromhex("18 21 00 00 ef cd ab 89 00 00 00 00 67 45 23 01 6d 93 fe ff 00 00 00 00")
    first, second = isa.decode(raw)
    assert (first.code, first.dst, first.src, first.width) == (isa.LD_IMM64, 1, 2, 2)
    assert first.imm64 == 0x0123456789ABCDEF and first.next_imm == 0x01234567
    assert (second.slot, second.dst, second.src, second.off) == (2, 3, 9, -2)
    assert isa.encode([first, second]) == raw


def test_decode_refuses_broken_framing() -> None:
    with pytest.raises(BpfLoadError, match="not a whole number of instructions"):
        isa.decode(bytes(12))
    with pytest.raises(BpfLoadError, match="invalid second slot of ld_imm64"):
        isa.decode(bytes.fromhex("1800000000000000 b700000000000000"))


@pytest.mark.parametrize(
    ("insn", "reason"),
    [
        (Insn(0, 0x07, 1, 2, 0, 5), "src_reg must be 0"),
        (Insn(0, 0x0F, 1, 2, 0, 5), "imm must be 0"),
        (Insn(0, 0x8F, 1, 0, 0, 0), "neg takes no source"),
        (Insn(0, 0xD4, 1, 0, 0, 8), "invalid byte swap"),
        (Insn(0, 0xDF, 1, 0, 0, 16), "reserved source bit"),
        (Insn(0, 0xBC, 1, 2, 32, 0), "invalid offset for mov"),  # movsx32 has no s32
        (Insn(0, 0x07, 11, 0, 0, 0), "register number out of range"),
        (Insn(0, 0x07, 1, 0, 4, 0), "offset must be 0"),
        (Insn(0, 0x86, 0, 0, 0, 0), "invalid call"),  # call is JMP only
        (Insn(0, 0x95, 1, 0, 0, 0), "invalid exit"),
        (Insn(0, 0xE5, 0, 1, 0, 0), "invalid conditional pseudo-jump"),
        (Insn(0, 0xDB, 1, 2, 0, 0x02), "unknown atomic operation"),
        (Insn(0, 0x79, 10, 1, 0, 0), "frame pointer is read only"),
        (Insn(0, 0x9F, 1, 2, 0, 0), None),
        (Insn(0, 0x3F, 1, 2, 1, 0), None),
        (Insn(0, 0xBF, 1, 2, 32, 0), None),
        (Insn(0, 0xD3, 1, 2, 0, isa.BPF_LOAD_ACQ), None),
    ],
)
def test_invalid_reason(insn: Insn, reason: str | None) -> None:
    got = isa.invalid_reason(insn)
    assert (got is None) if reason is None else (reason in (got or ""))


def test_assembler_errors_name_the_line() -> None:
    with pytest.raises(BpfLoadError, match="prog: line 2: cannot parse 'r0 = = 1'"):
        assemble("r0 = 1\nr0 = = 1\nexit")
    with pytest.raises(BpfLoadError, match="line 1: unknown label 'nowhere'"):
        assemble("goto nowhere\nexit")


def test_labels_comments_and_symbols() -> None:
    code = assemble(
        """
        r1 = map[flows] ll   ; a map by name
        call bpf_obj_new_impl // a kfunc by name
        if r0 == 0 goto out
        r0 = 1
    out:
        exit
        """
    )
    assert dict(code.symbols) == {0: "flows", 2: "bpf_obj_new_impl"}
    lines = [line.split("\t")[2] for line in disassemble(code)]
    assert lines == [
        "r1 = map[flows] ll",
        "call bpf_obj_new_impl",
        "if r0 == 0 goto +1",
        "r0 = 1",
        "exit",
    ]


@settings(max_examples=300, deadline=None)
@given(programs())
def test_format_then_assemble_round_trips(code: Code) -> None:
    text = "\n".join(format_insn(i) for i in isa.decode(code.insns))
    assert assemble(text).insns == code.insns
