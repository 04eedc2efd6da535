"""The reference BPF interpreter: one instruction at a time, clarity first.

It defines what a program means in qdisclab; the translator
(:mod:`qdisclab.bpf.translate`) must agree with it exactly, faults included.
Semantics are Linux's (``instruction-set.rst``): 32-bit ALU results are
zero-extended, division by zero gives 0 and modulo by zero leaves the
dividend, shifts are masked to the operand width, ``JMP32`` compares the
low halves, a bpf-to-bpf call gets a fresh frame (R1–R5 arguments, its own
R10, the caller's R6–R9 untouched), ``may_goto`` jumps once its per-frame
counter (:data:`~qdisclab.bpf.isa.BPF_MAX_LOOPS`) is spent, and each run
may execute at most ``budget`` instructions.

>>> from qdisclab.bpf.asm import assemble
>>> from qdisclab.bpf.resolver import TableResolver
>>> prog = Interpreter(assemble("r0 = r1\\nr0 *= 3\\nexit"), TableResolver())
>>> prog.run(14)
42
"""

from __future__ import annotations

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.image import CODE_BASE, Image, link
from qdisclab.bpf.isa import Insn
from qdisclab.bpf.memory import Memory
from qdisclab.bpf.resolver import Resolver

M64 = 0xFFFF_FFFF_FFFF_FFFF
M32 = 0xFFFF_FFFF


def signed(value: int, bits: int) -> int:
    """``value`` (taken modulo 2**bits) as a two's-complement signed int."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def bswap(value: int, bits: int) -> int:
    """Reverse the byte order of the low ``bits`` of ``value``."""
    n = bits // 8
    return int.from_bytes((value & ((1 << bits) - 1)).to_bytes(n, "little"), "big")


def alu(op: int, off: int, bits: int, dst: int, src: int) -> int:
    """The result of ALU operation ``op`` on ``bits``-wide operands (unsigned, masked)."""
    mask = (1 << bits) - 1
    a, b = dst & mask, src & mask
    if op == isa.BPF_ADD:
        r = a + b
    elif op == isa.BPF_SUB:
        r = a - b
    elif op == isa.BPF_MUL:
        r = a * b
    elif op == isa.BPF_DIV:
        if b == 0:
            r = 0
        elif off == 1:
            sa, sb = signed(a, bits), signed(b, bits)
            q = abs(sa) // abs(sb)
            r = q if (sa < 0) == (sb < 0) else -q
        else:
            r = a // b
    elif op == isa.BPF_MOD:
        if b == 0:
            r = a
        elif off == 1:
            sa, sb = signed(a, bits), signed(b, bits)
            r = abs(sa) % abs(sb)
            r = -r if sa < 0 else r
        else:
            r = a % b
    elif op == isa.BPF_OR:
        r = a | b
    elif op == isa.BPF_AND:
        r = a & b
    elif op == isa.BPF_XOR:
        r = a ^ b
    elif op == isa.BPF_LSH:
        r = a << (b & (bits - 1))
    elif op == isa.BPF_RSH:
        r = a >> (b & (bits - 1))
    elif op == isa.BPF_ARSH:
        r = signed(a, bits) >> (b & (bits - 1))
    elif op == isa.BPF_NEG:
        r = -a
    elif op == isa.BPF_MOV:
        r = signed(src, off) if off else b
    else:  # pragma: no cover - image.link refuses other operations
        raise AssertionError(op)
    return r & mask


def condition(op: int, bits: int, a: int, b: int) -> bool:
    """Whether conditional jump ``op`` is taken on ``bits``-wide operands."""
    mask = (1 << bits) - 1
    a, b = a & mask, b & mask
    if op == isa.BPF_JEQ:
        return a == b
    if op == isa.BPF_JNE:
        return a != b
    if op == isa.BPF_JSET:
        return bool(a & b)
    if op == isa.BPF_JGT:
        return a > b
    if op == isa.BPF_JGE:
        return a >= b
    if op == isa.BPF_JLT:
        return a < b
    if op == isa.BPF_JLE:
        return a <= b
    sa, sb = signed(a, bits), signed(b, bits)
    if op == isa.BPF_JSGT:
        return sa > sb
    if op == isa.BPF_JSGE:
        return sa >= sb
    if op == isa.BPF_JSLT:
        return sa < sb
    return sa <= sb  # BPF_JSLE


def budget_fault(budget: int, pc: int) -> BpfFault:
    return BpfFault(f"instruction budget of {budget} exhausted", pc=pc)


def deep_call_fault(pc: int) -> BpfFault:
    return BpfFault(f"call stack deeper than {isa.MAX_CALL_FRAMES} frames", pc=pc)


def callback_slot(image: Image, address: int, depth: int) -> int:
    """The function slot a helper may call back at ``address`` from frame ``depth``."""
    slot = (address - CODE_BASE) // isa.INSN_SIZE
    if address & 7 or slot not in image.function_end:
        raise BpfFault(f"call of {address:#x}: not a function of {image.name}")
    if depth + 1 >= isa.MAX_CALL_FRAMES:
        raise deep_call_fault(-1)
    return slot


class Interpreter:
    """Runs a linked program one instruction at a time.

    ``memory`` holds every region the program may reach (a fresh one when
    omitted); ``budget`` caps instructions per :meth:`run`; ``max_loops``
    is each frame's ``may_goto`` allowance.
    """

    def __init__(
        self,
        code: Code | Image,
        resolver: Resolver,
        memory: Memory | None = None,
        budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS,
        max_loops: int = isa.BPF_MAX_LOOPS,
    ) -> None:
        self.image = code if isinstance(code, Image) else link(code, resolver)
        self.name = self.image.name
        self.memory = memory if memory is not None else Memory()
        self.budget = budget
        self.max_loops = max_loops
        self.steps = 0
        self.depth = 0

    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> int:
        """Run the program with R1–R5 set; returns R0 (64 bits, unsigned)."""
        self.steps = 0
        try:
            return self.call_at(0, 0, (r1, r2, r3, r4, r5))
        except BpfFault as fault:
            raise self.annotate(fault) from None

    def annotate(self, fault: BpfFault) -> BpfFault:
        """Name this program and the source line in ``fault``."""
        fault.program = fault.program or self.name
        line_of = self.image.code.source_line
        if fault.source_line is None and line_of is not None and fault.pc >= 0:
            fault.source_line = line_of(fault.pc)
        return fault

    def call_function(
        self, address: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0
    ) -> int:
        """Call the function at code ``address`` from a helper (one frame deeper)."""
        slot = callback_slot(self.image, address, self.depth)
        depth = self.depth
        try:
            return self.call_at(slot, depth + 1, (r1, r2, r3, r4, r5))
        finally:
            self.depth = depth

    def call_at(self, entry: int, depth: int, args: tuple[int, ...]) -> int:
        regs = [0, *(a & M64 for a in args), 0, 0, 0, 0, self.memory.frame_pointer(depth)]
        return self.run_frame(regs, entry, depth, self.max_loops)

    def run_frame(self, regs: list[int], pc: int, depth: int, loops: int) -> int:
        """Execute from slot ``pc`` in a frame holding ``regs`` until its ``exit``."""
        at, mem = self.image.at, self.memory
        while True:
            insn = at[pc]
            self.steps += 1
            if self.steps > self.budget:
                raise budget_fault(self.budget, pc)
            cls, op = insn.code & 0x07, insn.code & 0xF0
            nxt = pc + 1
            if cls in (isa.BPF_ALU, isa.BPF_ALU64):
                self.exec_alu(insn, regs)
            elif cls in (isa.BPF_JMP, isa.BPF_JMP32):
                if insn.code == isa.EXIT:
                    return regs[0]
                if insn.code == isa.CALL:
                    regs[0] = self.exec_call(insn, regs, depth)
                elif op == isa.BPF_JCOND:  # may_goto
                    if loops == 0:
                        nxt = pc + 1 + insn.off
                    else:
                        loops -= 1
                elif op == isa.BPF_JA:
                    nxt = pc + 1 + (insn.imm if cls == isa.BPF_JMP32 else insn.off)
                else:
                    bits = 64 if cls == isa.BPF_JMP else 32
                    b = regs[insn.src] if insn.code & isa.BPF_X else insn.imm64
                    if condition(op, bits, regs[insn.dst], b):
                        nxt = pc + 1 + insn.off
            elif insn.code == isa.LD_IMM64:
                regs[insn.dst] = self.image.constants[pc]
                nxt = pc + 2
            else:
                self.exec_memory(insn, regs, mem)
            pc = nxt

    def exec_alu(self, insn: Insn, regs: list[int]) -> None:
        cls, op = insn.code & 0x07, insn.code & 0xF0
        bits = 64 if cls == isa.BPF_ALU64 else 32
        d = insn.dst
        if op == isa.BPF_END:
            value = regs[d]
            if cls == isa.BPF_ALU64 or insn.code & isa.BPF_TO_BE:
                regs[d] = bswap(value, insn.imm)
            else:
                regs[d] = value & ((1 << insn.imm) - 1)
            return
        src = regs[insn.src] if insn.code & isa.BPF_X else insn.imm64
        regs[d] = alu(op, insn.off, bits, regs[d], src)

    def exec_call(self, insn: Insn, regs: list[int], depth: int) -> int:
        if insn.src == isa.BPF_PSEUDO_CALL:
            if depth + 1 >= isa.MAX_CALL_FRAMES:
                raise deep_call_fault(insn.slot)
            return self.call_at(insn.slot + 1 + insn.imm, depth + 1, tuple(regs[1:6]))
        function = self.image.calls[insn.slot]
        self.depth = depth
        try:
            return function(self, regs[1], regs[2], regs[3], regs[4], regs[5]) & M64
        except BpfFault as fault:
            if fault.pc < 0:
                fault.pc = insn.slot
            raise

    def exec_memory(self, insn: Insn, regs: list[int], mem: Memory) -> None:
        cls, mode, pc = insn.code & 0x07, insn.code & 0xE0, insn.slot
        size = isa.SIZE_BYTES[insn.code & 0x18]
        if cls == isa.BPF_LDX:
            value = mem.load((regs[insn.src] + insn.off) & M64, size, pc)
            regs[insn.dst] = signed(value, size * 8) & M64 if mode == isa.BPF_MEMSX else value
        elif cls == isa.BPF_ST:
            mem.store((regs[insn.dst] + insn.off) & M64, size, insn.imm64, pc)
        elif mode == isa.BPF_MEM:
            mem.store((regs[insn.dst] + insn.off) & M64, size, regs[insn.src], pc)
        else:
            self.exec_atomic(insn, regs, mem, size)

    def exec_atomic(self, insn: Insn, regs: list[int], mem: Memory, size: int) -> None:
        pc, imm, s = insn.slot, insn.imm, insn.src
        if imm == isa.BPF_LOAD_ACQ:
            regs[insn.dst] = mem.load((regs[s] + insn.off) & M64, size, pc)
            return
        addr = (regs[insn.dst] + insn.off) & M64
        if imm == isa.BPF_STORE_REL:
            mem.store(addr, size, regs[s], pc)
            return
        mask = (1 << size * 8) - 1
        old = mem.load(addr, size, pc)
        if imm == isa.BPF_CMPXCHG:
            if old == regs[0] & mask:
                mem.store(addr, size, regs[s], pc)
            regs[0] = old
            return
        if imm == isa.BPF_XCHG:
            new = regs[s]
        else:
            new = alu(imm & ~isa.BPF_FETCH, 0, size * 8, old, regs[s])
        mem.store(addr, size, new, pc)
        if imm & isa.BPF_FETCH:
            regs[s] = old
