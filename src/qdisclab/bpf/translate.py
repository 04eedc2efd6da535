"""Translate a linked BPF program to Python source, compiled once at load.

Each BPF function becomes one Python function whose registers are locals
and whose ALU operations are inline expressions with their masks; basic
blocks are ``if L <= <slot>:`` sections in slot order, so falling through
costs one comparison, a forward jump sets ``L`` and a backward jump also
``continue``s the function's loop. Stack accesses through R10 with a
constant offset are checked when translating and go straight to the
frame's bytes. Memory elsewhere goes through :class:`~qdisclab.bpf.memory.Memory`.

The instruction budget is counted per block. When a block would cross it,
the reference interpreter finishes that block from the same state, so the
fault (budget, or an earlier memory fault) is exactly the interpreter's.

>>> from qdisclab.bpf.asm import assemble
>>> from qdisclab.bpf.resolver import TableResolver
>>> prog = Translated(assemble("r0 = r1\\nr0 *= 3\\nexit"), TableResolver())
>>> prog.run(14)
42
"""

from __future__ import annotations

import struct

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.image import Image, link
from qdisclab.bpf.interp import M64, Interpreter, bswap, callback_slot, deep_call_fault
from qdisclab.bpf.isa import Insn
from qdisclab.bpf.memory import BytesRegion, Memory
from qdisclab.bpf.resolver import Resolver

_M = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: M64}
_SIGN = {1: 0x80, 2: 0x8000, 4: 0x8000_0000, 8: 0x8000_0000_0000_0000}
_UFMT = {1: "B", 2: "H", 4: "I", 8: "Q"}
_SFMT = {1: "b", 2: "h", 4: "i"}
_CMP = {
    isa.BPF_JEQ: "==", isa.BPF_JNE: "!=", isa.BPF_JGT: ">", isa.BPF_JGE: ">=",
    isa.BPF_JLT: "<", isa.BPF_JLE: "<=", isa.BPF_JSGT: ">", isa.BPF_JSGE: ">=",
    isa.BPF_JSLT: "<", isa.BPF_JSLE: "<=",
}  # fmt: skip
_SIGNED_JUMPS = (isa.BPF_JSGT, isa.BPF_JSGE, isa.BPF_JSLT, isa.BPF_JSLE)


def _sdiv(a: int, b: int, bits: int) -> int:
    sign, mask = 1 << (bits - 1), (1 << bits) - 1
    sa, sb = ((a & mask) ^ sign) - sign, ((b & mask) ^ sign) - sign
    if sb == 0:
        return 0
    q = abs(sa) // abs(sb)
    return (q if (sa < 0) == (sb < 0) else -q) & mask


def _smod(a: int, b: int, bits: int) -> int:
    sign, mask = 1 << (bits - 1), (1 << bits) - 1
    sa, sb = ((a & mask) ^ sign) - sign, ((b & mask) ^ sign) - sign
    if sb == 0:
        return a & mask
    r = abs(sa) % abs(sb)
    return (-r if sa < 0 else r) & mask


class _Function:
    """Source of one BPF function."""

    def __init__(self, tr: _Source, entry: int, end: int) -> None:
        self.tr, self.entry, self.end = tr, entry, end
        img = tr.image
        self.insns = [i for i in img.insns if entry <= i.slot < end]
        leaders = {entry}
        for i in self.insns:
            target = isa.jump_target(i)
            if isa.is_branch(i):
                leaders.add(target)  # type: ignore[arg-type]
            if isa.is_branch(i) or i.code in (isa.CALL, isa.EXIT):
                leaders.add(i.slot + i.width)
        self.leaders = sorted(s for s in leaders if entry <= s < end)
        self.backward = any(
            isa.is_branch(i) and isa.jump_target(i) <= i.slot  # type: ignore[operator]
            for i in self.insns
        )
        self.uses_may_goto = any(i.code == isa.BPF_JMP | isa.BPF_JCOND for i in self.insns)
        self.lines: list[str] = []
        self.block = entry

    def source(self, entry: bool = False) -> list[str]:
        """The Python function; ``entry``: the program's own ``run`` instead.

        A BPF function ``f<slot>(r1..r5, depth, steps)`` returns
        ``(r0, steps)``. The entry variant of the main function is what
        ``Translated.run`` is: R1–R5 default to 0 and are taken modulo
        2**64, it returns R0, and a fault leaves it annotated with the
        program and source line — one Python call per run.
        """
        self.ret = "return r0" if entry else "return r0, steps"
        base = "        "
        if entry:
            out = ["    def run(r1=0, r2=0, r3=0, r4=0, r5=0):", f"{base}try:"]
            base += "    "
            out.append(
                f"{base}r1 &= {M64:#x}; r2 &= {M64:#x}; r3 &= {M64:#x}; r4 &= {M64:#x}; r5 &= {M64:#x}"
            )
            out.append(f"{base}depth = steps = 0")
        else:
            out = [f"    def f{self.entry}(r1, r2, r3, r4, r5, depth, steps):"]
        out.append(f"{base}r0 = r6 = r7 = r8 = r9 = 0")
        out.append(f"{base}r10 = fps[depth]; stk = stacks[depth]")
        if self.uses_may_goto:
            out.append(f"{base}mg = max_loops")
        if len(self.leaders) > 1:
            out.append(f"{base}L = {self.entry}")
        if self.backward:
            out.append(f"{base}while True:")
            base += "    "
        by_block: dict[int, list[Insn]] = {b: [] for b in self.leaders}
        for i in self.insns:
            by_block[max(b for b in self.leaders if b <= i.slot)].append(i)
        for start in self.leaders:
            body = by_block[start]
            self.block = start
            self.lines = []
            self.cached: set[tuple[int, str]] = set()
            n = len(body)
            self.emit(f"steps += {n}")
            self.emit("if steps > budget:")
            self.emit(f"    slow({start}, depth, steps - {n}, {self._mg()}, {_REGS})")
            for insn in body:
                self.insn(insn)
            head = f"{base}if L <= {start}:" if len(self.leaders) > 1 else None
            indent = base + ("    " if head else "")
            if head:
                out.append(head)
            out.extend(indent + line for line in self.lines)
        if entry:
            out.append("        except BpfFault as e:")
            out.append("            raise annotate(e) from None")
        return out

    def _mg(self) -> str:
        return "mg" if self.uses_may_goto else "max_loops"

    def emit(self, line: str) -> None:
        self.lines.append(line)

    def goto(self, target: int, indent: str = "") -> None:
        self.emit(f"{indent}L = {target}")
        if target <= self.block:
            self.emit(f"{indent}continue")

    def insn(self, i: Insn) -> None:
        cls = i.code & 0x07
        if cls in (isa.BPF_ALU, isa.BPF_ALU64):
            self.emit(_alu(i))
            self.wrote(i.dst)
        elif cls in (isa.BPF_JMP, isa.BPF_JMP32):
            self.jump(i)
        elif i.code == isa.LD_IMM64:
            self.emit(f"r{i.dst} = {self.tr.image.constants[i.slot]:#x}")
            self.wrote(i.dst)
        else:
            self.memory(i)

    def jump(self, i: Insn) -> None:
        cls, op, pc = i.code & 0x07, i.code & 0xF0, i.slot
        if i.code == isa.EXIT:
            self.emit(self.ret)
        elif i.code == isa.CALL:
            if i.src == isa.BPF_PSEUDO_CALL:
                self.emit(f"if depth >= {isa.MAX_CALL_FRAMES - 1}: raise deep({pc})")
                self.emit(f"r0, steps = f{pc + 1 + i.imm}(r1, r2, r3, r4, r5, depth + 1, steps)")
            else:
                self.emit("vm.depth = depth; vm.steps = steps")
                self.emit("try:")
                self.emit(f"    r0 = c{pc}(vm, r1, r2, r3, r4, r5) & {M64:#x}")
                self.emit("except BpfFault as e:")
                self.emit(f"    raise at(e, {pc})")
                self.emit("steps = vm.steps")
        elif op == isa.BPF_JCOND:
            self.emit("if mg:")
            self.emit("    mg -= 1")
            self.emit("else:")
            self.goto(pc + 1 + i.off, "    ")
        elif op == isa.BPF_JA:
            self.goto(pc + 1 + (i.imm if cls == isa.BPF_JMP32 else i.off))
        else:
            self.emit(f"if {_condition(i)}:")
            self.goto(pc + 1 + i.off, "    ")

    def memory(self, i: Insn) -> None:
        cls, mode, pc = i.code & 0x07, i.code & 0xE0, i.slot
        size = isa.SIZE_BYTES[i.code & 0x18]
        if cls == isa.BPF_LDX:
            self.load(f"r{i.dst}", i.src, i.off, size, pc, signed=mode == isa.BPF_MEMSX)
        elif cls == isa.BPF_ST:
            self.store(i.dst, i.off, size, f"{i.imm64 & _M[size]:#x}", pc)
        elif mode == isa.BPF_MEM:
            self.store(i.dst, i.off, size, f"r{i.src}", pc)
        else:
            self.atomic(i, size)

    def base(self, reg: int, off: int, table: str) -> tuple[str, str] | None:
        """The cached bytes and offset expressions for ``reg + off``, or None.

        Within a block a base register's region is looked up once (``R`` for
        reads, ``W`` for writes) and reused until the register is written;
        a lookup that finds nothing leaves None there, which the access then
        trips over. Negative offsets are not cached: the sum could go below
        the region's start, which ``unpack_from`` would take from the end.
        """
        if off < 0:
            return None
        key = (reg, table)
        if key not in self.cached:
            if reg not in {r for r, _ in self.cached}:
                self.emit(f"o{reg} = r{reg} & 0xffffffff")
            self.emit(f"d{table.lower()}{reg} = {table}.get(r{reg} >> 32)")
            self.cached.add(key)
        where = f"o{reg} + {off}" if off else f"o{reg}"
        return f"d{table.lower()}{reg}", where

    def wrote(self, reg: int) -> None:
        """Forget the cached region of ``reg`` once an instruction writes it."""
        self.cached -= {(reg, "R"), (reg, "W")}

    def load(
        self, target: str, reg: int, off: int, size: int, pc: int, signed: bool = False
    ) -> None:
        """``target = *(size *)(reg + off)``, sign-extended to 64 bits when ``signed``.

        An in-bounds R10 access reads the frame's bytes directly; otherwise a
        plain byte region is read in place (no region, or an access past its
        end, raises, and the ``except`` hands the access to ``Memory.load``,
        which reads a struct view or raises the fault).
        """
        self._load(target, reg, off, size, pc, signed)
        if target.startswith("r"):
            self.wrote(int(target[1:]))  # after the load, which may read it as its base

    def _load(self, target: str, reg: int, off: int, size: int, pc: int, signed: bool) -> None:
        fmt = _SFMT[size] if signed else _UFMT[size]
        unpack = self.tr.packer("u" + fmt)
        extend = f" & {M64:#x}" if signed else ""
        fast = self.tr.stack_offset(reg, off, size)
        if fast is not None:
            self.emit(f"{target} = {unpack}(stk, {fast})[0]{extend}")
            return
        cached = self.base(reg, off, "R")
        data, where = cached or ("R[a >> 32]", "a & 0xffffffff")
        if cached is None:
            self.emit(f"a = r{reg} + {off}")
        slow = f"ld((r{reg} + {off}) & {M64:#x}, {size}, {pc})"
        if signed:
            sign = _SIGN[size]
            slow = f"(({slow} ^ {sign:#x}) - {sign:#x}) & {M64:#x}"
        self.emit("try:")
        self.emit(f"    {target} = {unpack}({data}, {where})[0]{extend}")
        self.emit("except E:")
        self.emit(f"    {target} = {slow}")

    def store(self, reg: int, off: int, size: int, value: str, pc: int) -> None:
        """``*(size *)(reg + off) = value``."""
        masked = (
            value if size == 8 and value.startswith(("r", "0x")) else f"({value}) & {_M[size]:#x}"
        )
        pack = self.tr.packer("p" + _UFMT[size])
        fast = self.tr.stack_offset(reg, off, size)
        if fast is not None:
            self.emit(f"{pack}(stk, {fast}, {masked})")
            return
        cached = self.base(reg, off, "W")
        data, where = cached or ("W[a >> 32]", "a & 0xffffffff")
        if cached is None:
            self.emit(f"a = r{reg} + {off}")
        self.emit("try:")
        self.emit(f"    {pack}({data}, {where}, {masked})")
        self.emit("except E:")
        self.emit(f"    st((r{reg} + {off}) & {M64:#x}, {size}, {masked}, {pc})")

    def atomic(self, i: Insn, size: int) -> None:
        pc, imm, s, m = i.slot, i.imm, i.src, _M[size]
        if imm == isa.BPF_LOAD_ACQ:
            self.load(f"r{i.dst}", s, i.off, size, pc)
            return
        if imm == isa.BPF_STORE_REL:
            self.store(i.dst, i.off, size, f"r{s}", pc)
            return
        self.load("old", i.dst, i.off, size, pc)
        if imm == isa.BPF_CMPXCHG:
            self.base(i.dst, i.off, "W")  # looked up before the `if`, so later stores see it
            self.emit(f"if old == r0 & {m:#x}:")
            saved, self.lines = self.lines, []
            self.store(i.dst, i.off, size, f"r{s}", pc)
            saved.extend("    " + line for line in self.lines)
            self.lines = saved
            self.emit("r0 = old")
            self.wrote(0)
            return
        op = imm & ~isa.BPF_FETCH
        new = {
            isa.BPF_ADD: f"old + r{s}", isa.BPF_OR: f"old | r{s}",
            isa.BPF_AND: f"old & r{s}", isa.BPF_XOR: f"old ^ r{s}",
        }.get(op, f"r{s}")  # fmt: skip
        self.store(i.dst, i.off, size, new, pc)
        if imm & isa.BPF_FETCH:
            self.emit(f"r{s} = old")
            self.wrote(s)


_REGS = "(r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10)"


def _condition(i: Insn) -> str:
    cls, op = i.code & 0x07, i.code & 0xF0
    bits = 64 if cls == isa.BPF_JMP else 32
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    a = f"r{i.dst}" if bits == 64 else f"(r{i.dst} & {mask:#x})"
    if i.code & isa.BPF_X:
        b = f"r{i.src}" if bits == 64 else f"(r{i.src} & {mask:#x})"
        if op in _SIGNED_JUMPS:
            return f"({a} ^ {sign:#x}) {_CMP[op]} ({b} ^ {sign:#x})"
    else:
        value = i.imm64 & mask
        if op in _SIGNED_JUMPS:
            return f"({a} ^ {sign:#x}) {_CMP[op]} {value ^ sign:#x}"
        b = f"{value:#x}"
    if op == isa.BPF_JSET:
        return f"{a} & {b}"
    return f"{a} {_CMP[op]} {b}"


def _alu(i: Insn) -> str:
    cls, op, d = i.code & 0x07, i.code & 0xF0, f"r{i.dst}"
    bits = 64 if cls == isa.BPF_ALU64 else 32
    m = f"{(1 << bits) - 1:#x}"
    sign = f"{1 << (bits - 1):#x}"
    if op == isa.BPF_END:
        if cls == isa.BPF_ALU and not i.code & isa.BPF_TO_BE:  # to little endian: truncate
            return f"{d} &= {(1 << i.imm) - 1:#x}"
        return f"{d} = bswap({d}, {i.imm})"
    if i.code & isa.BPF_X:
        s = f"r{i.src}"
        s_low = s if bits == 64 else f"({s} & {m})"
    else:
        value = i.imm64 & ((1 << bits) - 1)
        s = s_low = f"{value:#x}"
    shift = f"({s} & {bits - 1})"
    d_low = d if bits == 64 else f"({d} & {m})"
    signed_d = f"(({d_low} ^ {sign}) - {sign})"
    if op == isa.BPF_MOV:
        if i.off:
            bit = 1 << (i.off - 1)
            return f"{d} = ((({s} & {(1 << i.off) - 1:#x}) ^ {bit:#x}) - {bit:#x}) & {m}"
        return f"{d} = {s_low}"
    if op == isa.BPF_DIV:
        if i.off:
            return f"{d} = sdiv({d}, {s}, {bits})"
        return f"{d} = {d_low} // {s_low} if {s_low} else 0"
    if op == isa.BPF_MOD:
        if i.off:
            return f"{d} = smod({d}, {s}, {bits})"
        return f"{d} = {d_low} % {s_low} if {s_low} else {d_low}"
    expr = {
        isa.BPF_ADD: f"({d} + {s}) & {m}",
        isa.BPF_SUB: f"({d} - {s}) & {m}",
        isa.BPF_MUL: f"({d} * {s}) & {m}",
        isa.BPF_OR: f"{d} | {s}" if bits == 64 else f"({d} | {s}) & {m}",
        isa.BPF_AND: f"{d} & {s_low}",
        isa.BPF_XOR: f"{d} ^ {s}" if bits == 64 else f"({d} ^ {s}) & {m}",
        isa.BPF_LSH: f"({d} << {shift}) & {m}",
        isa.BPF_RSH: f"{d_low} >> {shift}",
        isa.BPF_ARSH: f"({signed_d} >> {shift}) & {m}",
        isa.BPF_NEG: f"-{d} & {m}",
    }[op]
    return f"{d} = {expr}"


class _Source:
    """The module source of a whole program."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self.packers: dict[str, str] = {}

    def stack_offset(self, reg: int, off: int, size: int) -> int | None:
        """Offset into the frame's bytes of an in-bounds R10 access, else None."""
        o = isa.MAX_BPF_STACK + off
        return o if reg == 10 and o >= 0 and o + size <= isa.MAX_BPF_STACK else None

    def packer(self, key: str) -> str:
        return self.packers.setdefault(key, f"_{key}")

    def source(self) -> str:
        img = self.image
        funcs = [_Function(self, e, img.function_end[e]) for e in img.functions]
        body: list[str] = []
        for f in funcs:
            body.extend(f.source())
        body.extend(funcs[0].source(entry=True))
        calls = ", ".join(f"c{slot}" for slot in sorted(img.calls))
        head = [
            f"def build({calls}{', ' if calls else ''}*, ld, st, R, W, E, fps, stacks, budget, max_loops,",
            "          slow, deep, at, vm, bswap, sdiv, smod, BpfFault, annotate):",
        ]
        for key, name in sorted(self.packers.items()):
            kind, fmt = key[0], key[1:]
            method = "unpack_from" if kind == "u" else "pack_into"
            head.append(f"    {name} = struct.Struct('<{fmt}').{method}")
        table = ", ".join(f"{e}: f{e}" for e in img.functions) + ', "run": run'
        return "\n".join([*head, *body, f"    return {{{table}}}", ""])


class Translated:
    """A program translated to Python and compiled once; runs like :class:`Interpreter`.

    Same constructor and :meth:`run` as the interpreter, and the same
    results and faults; ``source`` is the generated Python, for reading.
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
        self._reference = Interpreter(self.image, resolver, self.memory, budget, max_loops)
        self.source = _Source(self.image).source()
        namespace: dict[str, object] = {"struct": struct}
        exec(compile(self.source, f"<bpf {self.name}>", "exec"), namespace)
        fps = [self.memory.frame_pointer(d) for d in range(isa.MAX_CALL_FRAMES)]
        stacks = []
        for fp in fps:
            found = self.memory.region_at(fp - isa.MAX_BPF_STACK)
            assert found is not None and isinstance(found[0], BytesRegion)
            stacks.append(found[0].data)
        calls = [self.image.calls[s] for s in sorted(self.image.calls)]
        self._functions = namespace["build"](  # type: ignore[operator]
            *calls,
            ld=self.memory.load,
            st=self.memory.store,
            R=self.memory.readable,
            W=self.memory.writable,
            E=(KeyError, TypeError, struct.error),
            fps=fps,
            stacks=stacks,
            budget=budget,
            max_loops=max_loops,
            slow=self._slow,
            deep=deep_call_fault,
            at=_at,
            vm=self,
            bswap=bswap,
            sdiv=_sdiv,
            smod=_smod,
            BpfFault=BpfFault,
            annotate=self._reference.annotate,
        )
        self.run = self._functions.pop("run")  # type: ignore[method-assign]

    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> int:
        """Run the program with R1–R5 set; returns R0 (64 bits, unsigned).

        Replaced in each instance by the generated entry function, which does
        exactly this without a call in between.
        """
        raise AssertionError("replaced in __init__")

    def call_function(
        self, address: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0
    ) -> int:
        """Call the function at code ``address`` from a helper (one frame deeper)."""
        slot = callback_slot(self.image, address, self.depth)
        depth = self.depth
        try:
            r0, self.steps = self._functions[slot](
                r1 & M64, r2 & M64, r3 & M64, r4 & M64, r5 & M64, depth + 1, self.steps
            )
        finally:
            self.depth = depth
        return r0

    def _slow(self, pc: int, depth: int, steps: int, loops: int, regs: tuple[int, ...]) -> None:
        """Finish a block that crosses the budget on the interpreter: it faults there."""
        ref = self._reference
        ref.steps = steps
        ref.run_frame(list(regs), pc, depth, loops)
        raise AssertionError(f"{self.name}: block at {pc} crossed the budget without faulting")


def _at(fault: BpfFault, pc: int) -> BpfFault:
    if fault.pc < 0:
        fault.pc = pc
    return fault
