"""Scalar bounds: what the verifier knows about a 64-bit register value.

A :class:`Scalar` is the kernel's scalar part of ``struct bpf_reg_state``:
known bits (a :class:`~qdisclab.bpf.verifier.tnum.Tnum`) plus unsigned and
signed ranges of the full 64 bits and of the low 32 bits. :meth:`Scalar.make`
keeps the nine facts consistent with each other, as ``reg_bounds_sync``
does, and reports an empty set (an impossible branch) as None.

A :class:`View` is the 64-bit or the 32-bit half of a scalar, so one
transfer function (:mod:`~qdisclab.bpf.verifier.arith`) serves ALU64 and
ALU32; :func:`refine` narrows both operands of a conditional jump as
``reg_set_min_max`` does.

>>> x = Scalar.unknown()
>>> taken = refine(x.view(64), Scalar.const(10).view(64), "<", True)
>>> x = x.with_view(taken[0]); (x.umin, x.umax)
(0, 9)
>>> str(x)
'scalar(smin=umin=0,smax=umax=9,var_off=(0x0; 0xf))'
"""

from __future__ import annotations

from qdisclab.bpf.verifier.tnum import U32, U64, Tnum, tnum_range

S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1


def s64(x: int) -> int:
    x &= U64
    return x - (1 << 64) if x >> 63 else x


def s32(x: int) -> int:
    x &= U32
    return x - (1 << 32) if x >> 31 else x


def signed(x: int, bits: int) -> int:
    return s64(x) if bits == 64 else s32(x)


class View:
    """One half of a scalar (``bits`` 64 or 32): known bits and both ranges."""

    __slots__ = ("bits", "smax", "smin", "t", "umax", "umin")

    def __init__(self, bits: int, t: Tnum, umin: int, umax: int, smin: int, smax: int) -> None:
        self.bits, self.t = bits, t
        self.umin, self.umax, self.smin, self.smax = umin, umax, smin, smax

    @staticmethod
    def full(bits: int) -> View:
        top = (1 << bits) - 1
        return View(bits, Tnum(0, top), 0, top, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)

    def is_const(self) -> bool:
        return self.t.is_const()

    def contains(self, x: int) -> bool:
        x &= (1 << self.bits) - 1
        sx = signed(x, self.bits)
        return self.t.contains(x) and self.umin <= x <= self.umax and self.smin <= sx <= self.smax


class Scalar:
    """A scalar register value: known bits and 64-/32-bit unsigned/signed ranges (immutable)."""

    __slots__ = (
        "s32_max",
        "s32_min",
        "smax",
        "smin",
        "u32_max",
        "u32_min",
        "umax",
        "umin",
        "var_off",
    )

    def __init__(
        self,
        var_off: Tnum,
        umin: int,
        umax: int,
        smin: int,
        smax: int,
        u32_min: int,
        u32_max: int,
        s32_min: int,
        s32_max: int,
    ) -> None:
        self.var_off = var_off
        self.umin, self.umax, self.smin, self.smax = umin, umax, smin, smax
        self.u32_min, self.u32_max, self.s32_min, self.s32_max = u32_min, u32_max, s32_min, s32_max

    # ------------------------------------------------------------ constructors
    @staticmethod
    def unknown() -> Scalar:
        return _UNKNOWN

    @staticmethod
    def const(value: int) -> Scalar:
        v = value & U64
        lo = v & U32
        return Scalar(Tnum.const(v), v, v, s64(v), s64(v), lo, lo, s32(lo), s32(lo))

    @staticmethod
    def make(
        t: Tnum,
        umin: int = 0,
        umax: int = U64,
        smin: int = S64_MIN,
        smax: int = S64_MAX,
        u32_min: int = 0,
        u32_max: int = U32,
        s32_min: int = S32_MIN,
        s32_max: int = S32_MAX,
    ) -> Scalar | None:
        """The consistent scalar for these facts (``reg_bounds_sync``), None when they conflict."""
        for _ in range(2):
            before = (t, umin, umax, smin, smax, u32_min, u32_max, s32_min, s32_max)
            t32 = t.subreg()
            # bounds from known bits
            s32_min = max(s32_min, s32(t32.value | (t32.mask & 0x8000_0000)))
            s32_max = min(s32_max, s32(t32.value | (t32.mask & 0x7FFF_FFFF)))
            u32_min, u32_max = max(u32_min, t32.value), min(u32_max, t32.umax)
            smin = max(smin, s64(t.value | (t.mask & (1 << 63))))
            smax = min(smax, s64(t.value | (t.mask & S64_MAX)))
            umin, umax = max(umin, t.value), min(umax, t.umax)
            # the low half from the whole when the upper 32 bits cannot change
            if umin >> 32 == umax >> 32:
                u32_min, u32_max = max(u32_min, umin & U32), min(u32_max, umax & U32)
                if s32(umin) <= s32(umax):
                    s32_min, s32_max = max(s32_min, s32(umin)), min(s32_max, s32(umax))
            if smin >> 32 == smax >> 32:
                if s32(smin) <= s32(smax):
                    s32_min, s32_max = max(s32_min, s32(smin)), min(s32_max, s32(smax))
                if smin & U32 <= smax & U32:
                    u32_min, u32_max = max(u32_min, smin & U32), min(u32_max, smax & U32)
            # signed from unsigned and back, when the range does not cross the sign
            if s32(u32_min) <= s32(u32_max):
                s32_min, s32_max = max(s32_min, s32(u32_min)), min(s32_max, s32(u32_max))
            if s32_min & U32 <= s32_max & U32:
                u32_min, u32_max = max(u32_min, s32_min & U32), min(u32_max, s32_max & U32)
            if s64(umin) <= s64(umax):
                smin, smax = max(smin, s64(umin)), min(smax, s64(umax))
            if smin & U64 <= smax & U64:
                umin, umax = max(umin, smin & U64), min(umax, smax & U64)
            # the whole from the low half
            umin = max(umin, (umin & ~U32) | u32_min)
            umax = min(umax, (umax & ~U32) | u32_max)
            smin = max(smin, (smin & ~U32) | u32_min)
            smax = min(smax, (smax & ~U32) | u32_max)
            if umin > umax or smin > smax or u32_min > u32_max or s32_min > s32_max:
                return None
            # known bits from the ranges (__reg_bound_offset)
            t = t.intersect(tnum_range(umin, umax))
            t = t.with_subreg(t.subreg().intersect(tnum_range(u32_min, u32_max)))
            if (t, umin, umax, smin, smax, u32_min, u32_max, s32_min, s32_max) == before:
                break  # a fixed point: another round would change nothing
        return Scalar(t, umin, umax, smin, smax, u32_min, u32_max, s32_min, s32_max)

    @staticmethod
    def from_views(v64: View, v32: View | None = None) -> Scalar | None:
        """A scalar from a computed 64-bit half (and low half, when it is known separately)."""
        if v32 is None:
            return Scalar.make(v64.t, v64.umin, v64.umax, v64.smin, v64.smax)
        t = v64.t.with_subreg(v64.t.subreg().intersect(v32.t))
        return Scalar.make(
            t, v64.umin, v64.umax, v64.smin, v64.smax, v32.umin, v32.umax, v32.smin, v32.smax
        )

    @staticmethod
    def zext32(v32: View) -> Scalar:
        """The result of a 32-bit ALU operation: the low half, upper 32 bits zero."""
        t = v32.t.subreg()
        lo, hi = v32.umin, v32.umax
        out = Scalar.make(t, lo, hi, lo, hi, lo, hi, v32.smin, v32.smax)
        assert out is not None
        return out

    # ----------------------------------------------------------------- queries
    def view(self, bits: int) -> View:
        if bits == 64:
            return View(64, self.var_off, self.umin, self.umax, self.smin, self.smax)
        return View(
            32, self.var_off.subreg(), self.u32_min, self.u32_max, self.s32_min, self.s32_max
        )

    def with_view(self, v: View) -> Scalar | None:
        """This scalar with one half replaced by the refined ``v``; None when empty."""
        if self.is_const() and v.is_const():
            ok = v.t.value == (self.value if v.bits == 64 else self.value & U32)
            return self if ok else None
        if v.bits == 64:
            return Scalar.make(
                v.t.intersect(self.var_off),
                v.umin,
                v.umax,
                v.smin,
                v.smax,
                self.u32_min,
                self.u32_max,
                self.s32_min,
                self.s32_max,
            )
        return Scalar.make(
            self.var_off.with_subreg(self.var_off.subreg().intersect(v.t)),
            self.umin,
            self.umax,
            self.smin,
            self.smax,
            v.umin,
            v.umax,
            v.smin,
            v.smax,
        )

    def is_const(self) -> bool:
        return self.var_off.is_const()

    @property
    def value(self) -> int:
        """The value of a constant scalar."""
        return self.var_off.value

    def contains(self, x: int) -> bool:
        return self.view(64).contains(x) and self.view(32).contains(x)

    def within(self, old: Scalar) -> bool:
        """Every value of ``self`` is a value of ``old`` (the kernel's ``range_within`` + ``tnum_in``)."""
        return (
            old.umin <= self.umin
            and self.umax <= old.umax
            and old.smin <= self.smin
            and self.smax <= old.smax
            and old.u32_min <= self.u32_min
            and self.u32_max <= old.u32_max
            and old.s32_min <= self.s32_min
            and self.s32_max <= old.s32_max
            and old.var_off.includes(self.var_off)
        )

    def _key(self) -> tuple:
        return (
            self.var_off.value,
            self.var_off.mask,
            self.umin,
            self.umax,
            self.smin,
            self.smax,
            self.u32_min,
            self.u32_max,
            self.s32_min,
            self.s32_max,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scalar) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        if self.is_const():
            return str(s64(self.value))
        parts: list[str] = []
        _pair(parts, "smin", self.smin, S64_MIN, "umin", self.umin, 0)
        _pair(parts, "smax", self.smax, S64_MAX, "umax", self.umax, U64)
        if (self.s32_min, self.s32_max, self.u32_min, self.u32_max) != (
            self.smin,
            self.smax,
            self.umin,
            self.umax,
        ):
            _pair(parts, "smin32", self.s32_min, S32_MIN, "umin32", self.u32_min, 0)
            _pair(parts, "smax32", self.s32_max, S32_MAX, "umax32", self.u32_max, U32)
        if not self.var_off.is_unknown():
            parts.append(f"var_off={self.var_off}")
        return f"scalar({','.join(parts)})"

    __repr__ = __str__


def _pair(
    parts: list[str], sname: str, sval: int, sdef: int, uname: str, uval: int, udef: int
) -> None:
    if sval == uval and sval != sdef:
        parts.append(f"{sname}={uname}={sval}")
        return
    if sval != sdef:
        parts.append(f"{sname}={sval}")
    if uval != udef:
        parts.append(f"{uname}={uval}")


_UNKNOWN = Scalar(Tnum(0, U64), 0, U64, S64_MIN, S64_MAX, 0, U32, S32_MIN, S32_MAX)

# ----------------------------------------------------------------- comparisons

NEGATION = {
    "==": "!=",
    "!=": "==",
    "<": ">=",
    ">=": "<",
    ">": "<=",
    "<=": ">",
    "s<": "s>=",
    "s>=": "s<",
    "s>": "s<=",
    "s<=": "s>",
    "&": "!&",
    "!&": "&",
}
_SWAP = {">": "<", ">=": "<=", "s>": "s<", "s>=": "s<="}


def refine(a: View, b: View, op: str, taken: bool) -> tuple[View, View] | None:
    """Both operands of ``if a op b`` narrowed for the branch taken (or not); None if impossible."""
    if not taken:
        op = NEGATION[op]
    if op in _SWAP:
        out = refine(b, a, _SWAP[op], True)
        return None if out is None else (out[1], out[0])
    a = View(a.bits, a.t, a.umin, a.umax, a.smin, a.smax)
    b = View(b.bits, b.t, b.umin, b.umax, b.smin, b.smax)
    if op == "==":
        if (a.t.value ^ b.t.value) & ~a.t.mask & ~b.t.mask:
            return None
        t = a.t.intersect(b.t)
        both = View(
            a.bits,
            t,
            max(a.umin, b.umin),
            min(a.umax, b.umax),
            max(a.smin, b.smin),
            min(a.smax, b.smax),
        )
        return (both, both) if both.umin <= both.umax and both.smin <= both.smax else None
    if op == "!=":
        if a.is_const() and b.is_const():
            return None if a.t.value == b.t.value else (a, b)
        for x, y in ((a, b), (b, a)):
            if y.is_const():
                c = y.t.value
                x.umin += x.umin == c
                x.umax -= x.umax == c
                sc = signed(c, a.bits)
                x.smin += x.smin == sc
                x.smax -= x.smax == sc
    elif op in ("<", "<="):
        strict = op == "<"
        a.umax = min(a.umax, b.umax - strict)
        b.umin = max(b.umin, a.umin + strict)
    elif op in ("s<", "s<="):
        strict = op == "s<"
        a.smax = min(a.smax, b.smax - strict)
        b.smin = max(b.smin, a.smin + strict)
    elif op == "&" and b.is_const():
        c = b.t.value
        if not (a.t.value | a.t.mask) & c:
            return None
        if c & (c - 1) == 0:
            a.t = Tnum(a.t.value | c, a.t.mask & ~c)
    elif op == "!&" and b.is_const():
        c = b.t.value
        if a.t.value & c:
            return None
        a.t = Tnum(a.t.value, a.t.mask & ~c)
    for v in (a, b):
        if v.umin > v.umax or v.smin > v.smax:
            return None
    return a, b
