"""A small BPF assembler and disassembler in the kernel/llvm-objdump syntax.

For tests and diagnostics: :func:`assemble` turns text such as
``r1 = *(u32 *)(r2 + 8)`` or ``if w1 s> -1 goto out`` into a
:class:`~qdisclab.bpf.code.Code`; :func:`format_insn` and :func:`disassemble`
print instructions back in the same syntax, so the two round-trip.

Beyond llvm's syntax: ``label:`` lines and label operands (``goto out``,
``call @helper_fn``, ``r1 = func[@cb] ll``), ``call NAME`` for a kfunc,
``call pc+N`` for a bpf-to-bpf call, and pseudo ``ld_imm64`` as
``r1 = map[NAME] ll``, ``map_value[NAME]+OFF``, ``ksym[NAME]``,
``map_idx[N]``, ``map_idx_value[N]+OFF``.

>>> code = assemble('''
...     r0 = 0
... again:
...     r0 += 1
...     if r0 < 3 goto again
...     exit
... ''')
>>> print("\\n".join(disassemble(code)))  # doctest: +NORMALIZE_WHITESPACE
       0:	b7 00 00 00 00 00 00 00	r0 = 0
       1:	07 00 00 00 01 00 00 00	r0 += 1
       2:	a5 00 fe ff 03 00 00 00	if r0 < 3 goto -2
       3:	95 00 00 00 00 00 00 00	exit
"""

from __future__ import annotations

import re

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.isa import Insn

_ALU_SYM = {
    isa.BPF_ADD: "+=", isa.BPF_SUB: "-=", isa.BPF_MUL: "*=", isa.BPF_DIV: "/=",
    isa.BPF_OR: "|=", isa.BPF_AND: "&=", isa.BPF_LSH: "<<=", isa.BPF_RSH: ">>=",
    isa.BPF_MOD: "%=", isa.BPF_XOR: "^=", isa.BPF_MOV: "=", isa.BPF_ARSH: "s>>=",
}  # fmt: skip
_SIGNED_ALU_SYM = {isa.BPF_DIV: "s/=", isa.BPF_MOD: "s%="}
_JMP_SYM = {
    isa.BPF_JEQ: "==", isa.BPF_JGT: ">", isa.BPF_JGE: ">=", isa.BPF_JSET: "&",
    isa.BPF_JNE: "!=", isa.BPF_JSGT: "s>", isa.BPF_JSGE: "s>=", isa.BPF_JLT: "<",
    isa.BPF_JLE: "<=", isa.BPF_JSLT: "s<", isa.BPF_JSLE: "s<=",
}  # fmt: skip
_SIZE_NAME = {isa.BPF_B: "8", isa.BPF_H: "16", isa.BPF_W: "32", isa.BPF_DW: "64"}
_ATOMIC_NAME = {isa.BPF_ADD: "add", isa.BPF_OR: "or", isa.BPF_AND: "and", isa.BPF_XOR: "xor"}
_PSEUDO_NAME = {
    isa.BPF_PSEUDO_MAP_FD: "map",
    isa.BPF_PSEUDO_MAP_VALUE: "map_value",
    isa.BPF_PSEUDO_BTF_ID: "ksym",
    isa.BPF_PSEUDO_FUNC: "func",
    isa.BPF_PSEUDO_MAP_IDX: "map_idx",
    isa.BPF_PSEUDO_MAP_IDX_VALUE: "map_idx_value",
}


def _rel(n: int) -> str:
    return f"+{n}" if n >= 0 else str(n)


def _mem(size: int, reg: int, off: int, signed: bool = False) -> str:
    sign = f"- {-off}" if off < 0 else f"+ {off}"
    return f"*({'s' if signed else 'u'}{_SIZE_NAME[size]} *)(r{reg} {sign})"


def format_insn(insn: Insn, symbols: dict[int, str] | None = None) -> str:
    """One instruction as llvm-objdump prints it (see the module doc for extensions)."""
    code, cls, op = insn.code, insn.code & 0x07, insn.code & 0xF0
    d, s, off, imm = insn.dst, insn.src, insn.off, insn.imm
    name = (symbols or {}).get(insn.slot)
    if cls in (isa.BPF_ALU, isa.BPF_ALU64):
        w = "r" if cls == isa.BPF_ALU64 else "w"
        operand = f"{w}{s}" if code & isa.BPF_X else str(imm)
        if op == isa.BPF_END:
            kind = "bswap" if cls == isa.BPF_ALU64 else ("be" if code & isa.BPF_TO_BE else "le")
            return f"r{d} = {kind}{imm} r{d}"
        if op == isa.BPF_NEG:
            return f"{w}{d} = -{w}{d}"
        if op == isa.BPF_MOV and off:
            return f"{w}{d} = (s{off}){w}{s}"
        sym = _SIGNED_ALU_SYM[op] if off == 1 and op in _SIGNED_ALU_SYM else _ALU_SYM[op]
        return f"{w}{d} {sym} {operand}"
    if cls in (isa.BPF_JMP, isa.BPF_JMP32):
        if code == isa.EXIT:
            return "exit"
        if code == isa.CALL:
            if s == isa.BPF_PSEUDO_CALL:
                return f"call pc{_rel(imm)}"
            if s == isa.BPF_PSEUDO_KFUNC_CALL:
                return f"call {name}" if name else f"call kfunc#{imm}"
            return f"call {imm}"
        if op == isa.BPF_JA:
            return f"gotol {_rel(imm)}" if cls == isa.BPF_JMP32 else f"goto {_rel(off)}"
        if op == isa.BPF_JCOND:
            return f"may_goto {_rel(off)}"
        w = "r" if cls == isa.BPF_JMP else "w"
        operand = f"{w}{s}" if code & isa.BPF_X else str(imm)
        return f"if {w}{d} {_JMP_SYM[op]} {operand} goto {_rel(off)}"
    size, mode = code & 0x18, code & 0xE0
    if code == isa.LD_IMM64:
        if insn.src == 0:
            return f"r{d} = {insn.imm64} ll"
        ref = name or (f"{_rel(imm)}" if insn.src == isa.BPF_PSEUDO_FUNC else str(imm))
        extra = f"+{insn.next_imm}" if insn.src in (2, 6) else ""
        return f"r{d} = {_PSEUDO_NAME[insn.src]}[{ref}]{extra} ll"
    if cls == isa.BPF_LDX:
        return f"r{d} = {_mem(size, s, off, mode == isa.BPF_MEMSX)}"
    if cls == isa.BPF_ST:
        return f"{_mem(size, d, off)} = {imm}"
    if mode == isa.BPF_MEM:
        return f"{_mem(size, d, off)} = r{s}"
    return _format_atomic(size, d, s, off, imm)


def _format_atomic(size: int, d: int, s: int, off: int, imm: int) -> str:
    w = "r" if size == isa.BPF_DW else "w"
    bits = _SIZE_NAME[size]
    addr = f"r{d} {'-' if off < 0 else '+'} {abs(off)}"
    if imm == isa.BPF_LOAD_ACQ:
        return f"r{d} = load_acquire((u{bits} *)(r{s} {'-' if off < 0 else '+'} {abs(off)}))"
    if imm == isa.BPF_STORE_REL:
        return f"store_release((u{bits} *)({addr}), r{s})"
    if imm == isa.BPF_XCHG:
        return f"{w}{s} = xchg{'32_32' if w == 'w' else '_64'}({addr}, {w}{s})"
    if imm == isa.BPF_CMPXCHG:
        return f"{w}0 = cmpxchg{'32_32' if w == 'w' else '_64'}({addr}, {w}0, {w}{s})"
    op = _ATOMIC_NAME[imm & ~isa.BPF_FETCH]
    if imm & isa.BPF_FETCH:
        return f"{w}{s} = atomic_fetch_{op}((u{bits} *)({addr}), {w}{s})"
    return f"lock {_mem(size, d, off)} {_ALU_SYM[imm]} {w}{s}"


def disassemble(code: Code | bytes) -> list[str]:
    """``slot:<TAB>hex bytes<TAB>text`` lines, as ``llvm-objdump -d`` prints them.

    An ``ld_imm64`` is one line showing both slots' bytes, as llvm prints it.
    """
    if isinstance(code, bytes):
        code = Code("prog", code)
    lines = []
    symbols = dict(code.symbols)
    for insn in isa.decode(code.insns, code.name):
        raw = code.insns[insn.slot * 8 : (insn.slot + insn.width) * 8]
        lines.append(f"{insn.slot:8}:\t{raw.hex(' ')}\t{format_insn(insn, symbols)}")
    return lines


# ---------------------------------------------------------------- assembler

_REG = r"([rw])(\d+)"
_NUM = r"([-+]?(?:0x[0-9a-fA-F]+|\d+))"
_TARGET = r"([-+]\d+|[A-Za-z_.][\w.]*)"
_MEMOP = r"\*\(([us])(8|16|32|64) \*\)\(r(\d+) ([-+]) (\d+|0x[0-9a-fA-F]+)\)"
_ADDR = r"r(\d+) ([-+]) (\d+|0x[0-9a-fA-F]+)"
_SIZES = {v: k for k, v in _SIZE_NAME.items()}
_ALU_OPS = {v: k for k, v in _ALU_SYM.items()}
_JMP_OPS = {v: k for k, v in _JMP_SYM.items()}
_ATOMIC_OPS = {v: k for k, v in _ATOMIC_NAME.items()}
_PSEUDO_KIND = {v: k for k, v in _PSEUDO_NAME.items()}

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(rx + r"$"))
    for name, rx in [
        ("exit", r"exit"),
        ("goto", r"(goto|gotol) " + _TARGET),
        ("may_goto", r"may_goto " + _TARGET),
        ("call_local", r"call (?:pc([-+]\d+)|@([A-Za-z_.][\w.]*))"),
        ("call", r"call (\d+|[A-Za-z_][\w.]*)"),
        ("jump", rf"if {_REG} (==|!=|s>=|s<=|s>|s<|>=|<=|>|<|&) (?:{_REG}|{_NUM}) goto {_TARGET}"),
        ("ld_imm64", rf"r(\d+) = {_NUM} ll"),
        ("ld_pseudo", r"r(\d+) = (\w+)\[(@?[-+\w.]+)\](?:\+(\d+))? ll"),
        ("endian", r"r(\d+) = (be|le|bswap)(16|32|64) r(\d+)"),
        ("load", rf"r(\d+) = {_MEMOP}"),
        ("store", rf"{_MEMOP} = (?:r(\d+)|{_NUM})"),
        ("lock", rf"lock {_MEMOP} (\+=|\|=|&=|\^=) ([rw])(\d+)"),
        ("fetch", rf"{_REG} = atomic_fetch_(add|or|and|xor)\(\(u(32|64) \*\)\({_ADDR}\), {_REG}\)"),
        ("xchg", rf"{_REG} = xchg(?:32_32|_64)\({_ADDR}, {_REG}\)"),
        ("cmpxchg", rf"{_REG} = cmpxchg(?:32_32|_64)\({_ADDR}, {_REG}, {_REG}\)"),
        ("load_acq", rf"r(\d+) = load_acquire\(\(u(8|16|32|64) \*\)\({_ADDR}\)\)"),
        ("store_rel", rf"store_release\(\(u(8|16|32|64) \*\)\({_ADDR}\), r(\d+)\)"),
        ("neg", rf"{_REG} = -{_REG}"),
        ("movsx", rf"{_REG} = \(s(8|16|32)\){_REG}"),
        ("alu", rf"{_REG} (s>>=|s/=|s%=|<<=|>>=|\+=|-=|\*=|/=|\|=|&=|%=|\^=|=) (?:{_REG}|{_NUM})"),
    ]
]


def _int(text: str) -> int:
    return int(text, 0)


def _off(sign: str, text: str) -> int:
    return -_int(text) if sign == "-" else _int(text)


def _s32(value: int) -> int:
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value & 0x8000_0000 else value


class _Assembler:
    def __init__(self, name: str) -> None:
        self.name = name
        self.insns: list[Insn] = []
        self.labels: dict[str, int] = {}
        self.fixups: list[tuple[Insn, str, str, int]] = []  # insn, field, label, line
        self.symbols: dict[int, str] = {}
        self.slot = 0

    def error(self, line: int, message: str) -> BpfLoadError:
        return BpfLoadError(self.name, f"line {line}: {message}")

    def emit(self, code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Insn:
        insn = Insn(self.slot, code, dst, src, off, imm)
        self.insns.append(insn)
        self.slot += insn.width
        return insn

    def target(self, insn: Insn, field: str, text: str, line: int) -> int:
        if text[0] in "+-":
            return int(text)
        self.fixups.append((insn, field, text.lstrip("@"), line))
        return 0

    def line(self, text: str, n: int) -> None:
        for kind, rx in _PATTERNS:
            m = rx.match(text)
            if m:
                getattr(self, "_" + kind)(m.groups(), n)
                return
        raise self.error(n, f"cannot parse {text!r}")

    def finish(self) -> Code:
        for insn, field, label, n in self.fixups:
            if label not in self.labels:
                raise self.error(n, f"unknown label {label!r}")
            rel = self.labels[label] - insn.slot - 1
            setattr(insn, field, rel)
            if field == "imm":
                insn.imm64 = rel & 0xFFFF_FFFF_FFFF_FFFF
        return Code(self.name, isa.encode(self.insns), self.symbols)

    # one method per pattern, named after it
    def _exit(self, g: tuple, n: int) -> None:
        self.emit(isa.EXIT)

    def _goto(self, g: tuple, n: int) -> None:
        if g[0] == "gotol":
            insn = self.emit(isa.BPF_JMP32 | isa.BPF_JA)
            insn.imm = self.target(insn, "imm", g[1], n)
        else:
            insn = self.emit(isa.BPF_JMP | isa.BPF_JA)
            insn.off = self.target(insn, "off", g[1], n)

    def _may_goto(self, g: tuple, n: int) -> None:
        insn = self.emit(isa.BPF_JMP | isa.BPF_JCOND)
        insn.off = self.target(insn, "off", g[0], n)

    def _call_local(self, g: tuple, n: int) -> None:
        insn = self.emit(isa.CALL, src=isa.BPF_PSEUDO_CALL)
        insn.imm = int(g[0]) if g[0] else self.target(insn, "imm", "@" + g[1], n)

    def _call(self, g: tuple, n: int) -> None:
        if g[0].isdigit():
            self.emit(isa.CALL, imm=int(g[0]))
        else:
            insn = self.emit(isa.CALL, src=isa.BPF_PSEUDO_KFUNC_CALL)
            self.symbols[insn.slot] = g[0]

    def _jump(self, g: tuple, n: int) -> None:
        w, d, op, _sw, s, num, target = g
        cls = isa.BPF_JMP if w == "r" else isa.BPF_JMP32
        if s is not None:
            insn = self.emit(cls | _JMP_OPS[op] | isa.BPF_X, int(d), int(s))
        else:
            insn = self.emit(cls | _JMP_OPS[op], int(d), imm=_s32(_int(num)))
        insn.off = self.target(insn, "off", target, n)

    def _ld_imm64(self, g: tuple, n: int) -> None:
        value = _int(g[1]) & 0xFFFF_FFFF_FFFF_FFFF
        insn = self.emit(isa.LD_IMM64, int(g[0]), imm=_s32(value))
        insn.next_imm = _s32(value >> 32)
        insn.imm64 = value

    def _ld_pseudo(self, g: tuple, n: int) -> None:
        dst, kind_name, ref, extra = g
        if kind_name not in _PSEUDO_KIND:
            raise self.error(n, f"unknown ld_imm64 kind {kind_name!r}")
        kind = _PSEUDO_KIND[kind_name]
        insn = self.emit(isa.LD_IMM64, int(dst), kind)
        insn.next_imm = int(extra or 0)
        if kind == isa.BPF_PSEUDO_FUNC:
            insn.imm = self.target(insn, "imm", ref, n)
        elif re.fullmatch(r"[-+]?\d+", ref):
            insn.imm = int(ref)
        else:
            self.symbols[insn.slot] = ref
        insn.imm64 = insn.imm & 0xFFFF_FFFF_FFFF_FFFF

    def _endian(self, g: tuple, n: int) -> None:
        d, kind, bits, d2 = g
        if d != d2:
            raise self.error(n, "byte swap works in place")
        code = {
            "le": isa.BPF_ALU | isa.BPF_END | isa.BPF_TO_LE,
            "be": isa.BPF_ALU | isa.BPF_END | isa.BPF_TO_BE,
            "bswap": isa.BPF_ALU64 | isa.BPF_END,
        }[kind]
        self.emit(code, int(d), imm=int(bits))

    def _load(self, g: tuple, n: int) -> None:
        d, sign, bits, s, pm, off = g
        mode = isa.BPF_MEMSX if sign == "s" else isa.BPF_MEM
        self.emit(isa.BPF_LDX | mode | _SIZES[bits], int(d), int(s), _off(pm, off))

    def _store(self, g: tuple, n: int) -> None:
        _sign, bits, d, pm, off, s, num = g
        if s is not None:
            self.emit(isa.BPF_STX | isa.BPF_MEM | _SIZES[bits], int(d), int(s), _off(pm, off))
        else:
            code = isa.BPF_ST | isa.BPF_MEM | _SIZES[bits]
            self.emit(code, int(d), 0, _off(pm, off), _s32(_int(num)))

    def _atomic(self, bits: str, d: str, pm: str, off: str, s: str, imm: int) -> None:
        code = isa.BPF_STX | isa.BPF_ATOMIC | _SIZES[bits]
        self.emit(code, int(d), int(s), _off(pm, off), imm)

    def _lock(self, g: tuple, n: int) -> None:
        _sign, bits, d, pm, off, op, _w, s = g
        self._atomic(bits, d, pm, off, s, _ALU_OPS[op])

    def _fetch(self, g: tuple, n: int) -> None:
        _w, _s, op, bits, d, pm, off, _w2, s2 = g
        self._atomic(bits, d, pm, off, s2, _ATOMIC_OPS[op] | isa.BPF_FETCH)

    def _xchg(self, g: tuple, n: int) -> None:
        w, _s, d, pm, off, _w2, s2 = g
        self._atomic("64" if w == "r" else "32", d, pm, off, s2, isa.BPF_XCHG)

    def _cmpxchg(self, g: tuple, n: int) -> None:
        w, _r0, d, pm, off, _w1, _r0b, _w2, s = g
        self._atomic("64" if w == "r" else "32", d, pm, off, s, isa.BPF_CMPXCHG)

    def _load_acq(self, g: tuple, n: int) -> None:
        dst, bits, s, pm, off = g
        code = isa.BPF_STX | isa.BPF_ATOMIC | _SIZES[bits]
        self.emit(code, int(dst), int(s), _off(pm, off), isa.BPF_LOAD_ACQ)

    def _store_rel(self, g: tuple, n: int) -> None:
        bits, d, pm, off, s = g
        self._atomic(bits, d, pm, off, s, isa.BPF_STORE_REL)

    def _neg(self, g: tuple, n: int) -> None:
        w, d, _w2, _d2 = g
        self.emit((isa.BPF_ALU64 if w == "r" else isa.BPF_ALU) | isa.BPF_NEG, int(d))

    def _movsx(self, g: tuple, n: int) -> None:
        w, d, bits, _w2, s = g
        cls = isa.BPF_ALU64 if w == "r" else isa.BPF_ALU
        self.emit(cls | isa.BPF_MOV | isa.BPF_X, int(d), int(s), int(bits))

    def _alu(self, g: tuple, n: int) -> None:
        w, d, sym, _sw, s, num = g
        cls = isa.BPF_ALU64 if w == "r" else isa.BPF_ALU
        off = 1 if sym in ("s/=", "s%=") else 0
        op = {"s/=": isa.BPF_DIV, "s%=": isa.BPF_MOD}.get(sym, _ALU_OPS.get(sym))
        if s is not None:
            self.emit(cls | op | isa.BPF_X, int(d), int(s), off)
        else:
            self.emit(cls | op, int(d), 0, off, _s32(_int(num)))


def assemble(text: str, name: str = "prog") -> Code:
    """Assemble ``text`` (one instruction or ``label:`` per line; ``;`` and ``//`` comment).

    A line that does not parse is a :class:`~qdisclab.bpf.errors.BpfLoadError`
    naming its line number.
    """
    asm = _Assembler(name)
    for n, raw in enumerate(text.splitlines(), 1):
        line = re.split(r";|//", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        label = re.fullmatch(r"([A-Za-z_.][\w.]*):", line)
        if label:
            asm.labels[label.group(1)] = asm.slot
            continue
        asm.line(line, n)
    return asm.finish()
