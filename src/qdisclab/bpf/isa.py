"""The BPF instruction set as Linux defines it: opcodes and instruction decoding.

Constants keep the kernel's names (``include/uapi/linux/bpf.h``). An
instruction is 8 bytes: opcode, a byte holding dst (low nibble) and src
(high nibble) registers, a signed 16-bit offset and a signed 32-bit immediate;
``LD_IMM64`` takes two slots, the second carrying the upper 32 bits.

>>> insns = decode(bytes.fromhex("b701000005000000") + bytes.fromhex("9500000000000000"))
>>> [(i.slot, hex(i.code), i.dst, i.imm) for i in insns]
[(0, '0xb7', 1, 5), (1, '0x95', 0, 0)]
"""

from __future__ import annotations

import struct

from qdisclab.bpf.errors import BpfLoadError

# instruction classes
BPF_LD, BPF_LDX, BPF_ST, BPF_STX = 0x00, 0x01, 0x02, 0x03
BPF_ALU, BPF_JMP, BPF_JMP32, BPF_ALU64 = 0x04, 0x05, 0x06, 0x07
# size modifier and its width in bytes
BPF_W, BPF_H, BPF_B, BPF_DW = 0x00, 0x08, 0x10, 0x18
SIZE_BYTES = {BPF_W: 4, BPF_H: 2, BPF_B: 1, BPF_DW: 8}
# mode modifier
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_MEMSX, BPF_ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xC0
# source operand
BPF_K, BPF_X = 0x00, 0x08
# ALU operations
BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50
BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD, BPF_XOR, BPF_MOV = 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0
BPF_ARSH, BPF_END = 0xC0, 0xD0
BPF_TO_LE, BPF_TO_BE = 0x00, 0x08
# jump operations
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50
BPF_JSGT, BPF_JSGE, BPF_CALL, BPF_EXIT = 0x60, 0x70, 0x80, 0x90
BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE, BPF_JCOND = 0xA0, 0xB0, 0xC0, 0xD0, 0xE0
BPF_MAY_GOTO = 0  # src_reg of BPF_JCOND
# atomic operations (imm of BPF_STX | BPF_ATOMIC)
BPF_FETCH = 0x01
BPF_XCHG = 0xE0 | BPF_FETCH
BPF_CMPXCHG = 0xF0 | BPF_FETCH
BPF_LOAD_ACQ, BPF_STORE_REL = 0x100, 0x110
ATOMIC_ALU_OPS = (BPF_ADD, BPF_OR, BPF_AND, BPF_XOR)
# src_reg of BPF_LD | BPF_IMM | BPF_DW
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6
# src_reg of BPF_JMP | BPF_CALL
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2

LD_IMM64 = BPF_LD | BPF_IMM | BPF_DW
CALL = BPF_JMP | BPF_CALL
EXIT = BPF_JMP | BPF_EXIT

INSN_SIZE = 8
MAX_BPF_STACK = 512
MAX_CALL_FRAMES = 8
BPF_MAX_LOOPS = 1 << 23  # the kernel's may_goto budget per frame
BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000

_INSN = struct.Struct("<BBhi")


class Insn:
    """One decoded instruction; ``slot`` is its index in 8-byte units.

    For ``LD_IMM64`` ``imm64`` is the full 64-bit immediate (unsigned) and
    ``next_imm`` the second slot's immediate; for others ``imm64`` is ``imm``
    sign-extended to 64 bits and taken unsigned.
    """

    __slots__ = ("code", "dst", "imm", "imm64", "next_imm", "off", "slot", "src")

    def __init__(self, slot: int, code: int, dst: int, src: int, off: int, imm: int) -> None:
        self.slot = slot
        self.code = code
        self.dst = dst
        self.src = src
        self.off = off
        self.imm = imm
        self.imm64 = imm & 0xFFFF_FFFF_FFFF_FFFF
        self.next_imm = 0

    @property
    def cls(self) -> int:
        return self.code & 0x07

    @property
    def width(self) -> int:
        """Slots taken: 2 for LD_IMM64, else 1."""
        return 2 if self.code == LD_IMM64 else 1

    def encode(self) -> bytes:
        first = _INSN.pack(self.code, self.dst | self.src << 4, self.off, self.imm)
        if self.code == LD_IMM64:
            return first + _INSN.pack(0, 0, 0, self.next_imm)
        return first

    def __repr__(self) -> str:
        return (
            f"Insn(slot={self.slot}, code={self.code:#04x}, dst={self.dst}, src={self.src}, "
            f"off={self.off}, imm={self.imm})"
        )


def decode(raw: bytes, name: str = "prog") -> list[Insn]:
    """Decode raw bytecode into instructions (LD_IMM64 as one ``Insn``).

    Only the framing is checked here (length, a complete LD_IMM64); which
    opcodes are valid is :func:`check`'s job.
    """
    if len(raw) % INSN_SIZE:
        raise BpfLoadError(name, f"{len(raw)} bytes is not a whole number of instructions")
    out: list[Insn] = []
    n = len(raw) // INSN_SIZE
    slot = 0
    while slot < n:
        code, regs, off, imm = _INSN.unpack_from(raw, slot * INSN_SIZE)
        insn = Insn(slot, code, regs & 0x0F, regs >> 4, off, imm)
        if code == LD_IMM64:
            if slot + 1 >= n:
                raise BpfLoadError(name, f"insn {slot}: ld_imm64 lacks its second slot")
            code2, regs2, off2, imm2 = _INSN.unpack_from(raw, (slot + 1) * INSN_SIZE)
            if code2 or regs2 or off2:
                raise BpfLoadError(name, f"insn {slot}: invalid second slot of ld_imm64")
            insn.next_imm = imm2
            insn.imm64 = (imm & 0xFFFF_FFFF) | (imm2 & 0xFFFF_FFFF) << 32
            slot += 2
        else:
            slot += 1
        out.append(insn)
    return out


def encode(insns: list[Insn]) -> bytes:
    """The bytecode of ``insns`` (the inverse of :func:`decode`)."""
    return b"".join(i.encode() for i in insns)


_ALU_OPS = {
    BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH,
    BPF_NEG, BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH, BPF_END,
}  # fmt: skip
_COND_JUMPS = {
    BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE,
    BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE,
}  # fmt: skip


def invalid_reason(insn: Insn) -> str | None:
    """Why ``insn`` is not a valid instruction, or None when it is.

    The rules are the ISA's encoding rules (reserved fields zero, only the
    defined offsets for SDIV/SMOD/MOVSX, register numbers in range); which
    registers may be written (R10 never) is checked here too.
    """
    code, cls = insn.code, insn.code & 0x07
    if insn.dst > 10 or insn.src > 10:
        return "register number out of range"
    if cls in (BPF_ALU, BPF_ALU64):
        op, source = code & 0xF0, code & 0x08
        if op not in _ALU_OPS:
            return "unknown ALU operation"
        if insn.dst == 10:
            return "frame pointer is read only"
        if op == BPF_END:
            if insn.imm not in (16, 32, 64) or insn.off or insn.src:
                return "invalid byte swap"
            if cls == BPF_ALU64 and source:
                return "reserved source bit set in bswap"
            return None
        if source == BPF_K and insn.src:
            return "src_reg must be 0 with an immediate operand"
        if source == BPF_X and insn.imm:
            return "imm must be 0 with a register operand"
        if op == BPF_NEG and source:
            return "neg takes no source"
        if op in (BPF_DIV, BPF_MOD):
            return None if insn.off in (0, 1) else "invalid offset for div/mod"
        if op == BPF_MOV:
            allowed = (0, 8, 16, 32) if cls == BPF_ALU64 else (0, 8, 16)
            if insn.off not in allowed or (insn.off and source == BPF_K):
                return "invalid offset for mov"
            return None
        return "offset must be 0" if insn.off else None
    if cls in (BPF_JMP, BPF_JMP32):
        op, source = code & 0xF0, code & 0x08
        if op == BPF_JA:
            ok = source == BPF_K and not insn.src and not insn.dst
            return None if ok else "invalid goto"
        if op == BPF_CALL:
            if cls != BPF_JMP or source or insn.dst or insn.src > BPF_PSEUDO_KFUNC_CALL:
                return "invalid call"
            return None
        if op == BPF_EXIT:
            return None if code == EXIT and not (insn.src or insn.dst) else "invalid exit"
        if op == BPF_JCOND:
            ok = code == BPF_JMP | BPF_JCOND and insn.src == BPF_MAY_GOTO and not insn.dst
            return None if ok else "invalid conditional pseudo-jump"
        if op not in _COND_JUMPS:
            return "unknown jump operation"
        if source == BPF_K and insn.src:
            return "src_reg must be 0 with an immediate operand"
        return None
    mode, size = code & 0xE0, code & 0x18
    if cls == BPF_LD:
        if code == LD_IMM64:
            if insn.src > BPF_PSEUDO_MAP_IDX_VALUE or insn.off or insn.dst == 10:
                return "invalid ld_imm64"
            return None
        if mode in (BPF_ABS, BPF_IND):
            return (
                "legacy packet access (BPF_ABS/BPF_IND) is not supported: use direct packet access"
            )
        return "unknown load"
    if cls == BPF_LDX:
        if insn.dst == 10:
            return "frame pointer is read only"
        if mode == BPF_MEM or (mode == BPF_MEMSX and size != BPF_DW):
            return None if not insn.imm else "imm must be 0 in a load"
        return "unknown load mode"
    if cls == BPF_ST:
        return None if mode == BPF_MEM and not insn.src else "unknown store"
    # BPF_STX
    if mode == BPF_MEM:
        return None if not insn.imm else "imm must be 0 in a store"
    if mode == BPF_ATOMIC:
        if insn.imm in (BPF_LOAD_ACQ, BPF_STORE_REL):
            return None if insn.imm == BPF_STORE_REL or insn.dst != 10 else "invalid load-acquire"
        if size not in (BPF_W, BPF_DW):
            return "atomic operations are 32 or 64 bits"
        ok = insn.imm in (BPF_XCHG, BPF_CMPXCHG) or insn.imm & ~BPF_FETCH in ATOMIC_ALU_OPS
        return None if ok else "unknown atomic operation"
    return "unknown store mode"


def jump_target(insn: Insn) -> int | None:
    """The slot a jump (or bpf-to-bpf call, or pseudo-func) lands on, else None."""
    cls, op = insn.code & 0x07, insn.code & 0xF0
    if insn.code == LD_IMM64:
        return insn.slot + 1 + insn.imm if insn.src == BPF_PSEUDO_FUNC else None
    if cls not in (BPF_JMP, BPF_JMP32):
        return None
    if op == BPF_CALL:
        return insn.slot + 1 + insn.imm if insn.src == BPF_PSEUDO_CALL else None
    if op == BPF_EXIT:
        return None
    if op == BPF_JA and cls == BPF_JMP32:
        return insn.slot + 1 + insn.imm
    return insn.slot + 1 + insn.off


def is_branch(insn: Insn) -> bool:
    """True for an instruction that may transfer control within its function."""
    cls, op = insn.code & 0x07, insn.code & 0xF0
    return cls in (BPF_JMP, BPF_JMP32) and op not in (BPF_CALL, BPF_EXIT)
