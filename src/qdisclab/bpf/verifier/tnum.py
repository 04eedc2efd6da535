"""Tristate numbers: what is known about the bits of a 64-bit value.

A :class:`Tnum` is ``(value, mask)``: a bit set in ``mask`` is unknown, a bit
clear in ``mask`` is known and equal to that bit of ``value``. It is the
kernel verifier's ``struct tnum`` (``kernel/bpf/tnum.c``), with the same
operations and the same invariant ``value & mask == 0``. Every operation is
sound: if ``x`` is in ``a`` and ``y`` in ``b`` then ``x op y`` is in
``op(a, b)``.

>>> a = Tnum.const(4).or_(Tnum(0, 3))     # 4..7, low two bits unknown
>>> a, a.contains(6), a.contains(8)
(Tnum(0x4, 0x3), True, False)
>>> str(tnum_range(16, 31))
'(0x10; 0xf)'
"""

from __future__ import annotations

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1


class Tnum:
    """Known bits of a 64-bit value (immutable, hashable)."""

    __slots__ = ("mask", "value")

    def __init__(self, value: int, mask: int) -> None:
        mask &= U64
        self.value = value & U64 & ~mask
        self.mask = mask

    @staticmethod
    def const(value: int) -> Tnum:
        return Tnum(value, 0)

    @staticmethod
    def unknown() -> Tnum:
        return _UNKNOWN

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tnum) and self.value == other.value and self.mask == other.mask

    def __hash__(self) -> int:
        return hash((self.value, self.mask))

    def __repr__(self) -> str:
        return f"Tnum({self.value:#x}, {self.mask:#x})"

    def __str__(self) -> str:
        return f"({self.value:#x}; {self.mask:#x})"

    # ---------------------------------------------------------------- queries
    def is_const(self) -> bool:
        return self.mask == 0

    def is_unknown(self) -> bool:
        return self.mask == U64

    def contains(self, x: int) -> bool:
        """True when the concrete ``x`` is one of the values this tnum allows."""
        return (x & U64 & ~self.mask) == self.value

    def includes(self, other: Tnum) -> bool:
        """True when every value of ``other`` is a value of ``self`` (kernel ``tnum_in``)."""
        if other.mask & ~self.mask:
            return False
        return self.value == other.value & ~self.mask

    @property
    def umin(self) -> int:
        return self.value

    @property
    def umax(self) -> int:
        return self.value | self.mask

    # ------------------------------------------------------------- operations
    def lshift(self, shift: int) -> Tnum:
        return Tnum(self.value << shift, self.mask << shift)

    def rshift(self, shift: int) -> Tnum:
        return Tnum(self.value >> shift, self.mask >> shift)

    def arshift(self, shift: int, bits: int = 64) -> Tnum:
        """Arithmetic shift right of the low ``bits`` (32 or 64), zero-extended as the ALU does."""
        width = (1 << bits) - 1
        return Tnum(
            _sext(self.value & width, bits) >> shift & width,
            _sext(self.mask & width, bits) >> shift & width,
        )

    def add(self, b: Tnum) -> Tnum:
        sm = self.mask + b.mask
        sv = self.value + b.value
        sigma = sm + sv
        chi = sigma ^ sv
        mu = chi | self.mask | b.mask
        return Tnum(sv & ~mu, mu)

    def sub(self, b: Tnum) -> Tnum:
        dv = self.value - b.value
        alpha = dv + self.mask
        beta = dv - b.mask
        chi = alpha ^ beta
        mu = chi | self.mask | b.mask
        return Tnum(dv & ~mu, mu)

    def neg(self) -> Tnum:
        return _ZERO.sub(self)

    def and_(self, b: Tnum) -> Tnum:
        alpha = self.value | self.mask
        beta = b.value | b.mask
        v = self.value & b.value
        return Tnum(v, alpha & beta & ~v)

    def or_(self, b: Tnum) -> Tnum:
        v = self.value | b.value
        return Tnum(v, (self.mask | b.mask) & ~v)

    def xor(self, b: Tnum) -> Tnum:
        v = self.value ^ b.value
        mu = self.mask | b.mask
        return Tnum(v & ~mu, mu)

    def mul(self, b: Tnum) -> Tnum:
        """Long multiplication over known bits (the kernel's ``tnum_mul``)."""
        acc_v = self.value * b.value
        acc_m = _ZERO
        a = self
        while a.value or a.mask:
            if a.value & 1:
                acc_m = acc_m.add(Tnum(0, b.mask))
            elif a.mask & 1:
                acc_m = acc_m.add(Tnum(0, b.value | b.mask))
            a = a.rshift(1)
            b = b.lshift(1)
        return Tnum(acc_v, 0).add(acc_m)

    def intersect(self, b: Tnum) -> Tnum:
        """Values allowed by both (callers know they share at least one)."""
        v = self.value | b.value
        mu = self.mask & b.mask
        return Tnum(v & ~mu, mu)

    def union(self, b: Tnum) -> Tnum:
        """A tnum allowing every value of either."""
        v = self.value & b.value
        mu = (self.value ^ b.value) | self.mask | b.mask
        return Tnum(v & ~mu, mu)

    def cast(self, size: int) -> Tnum:
        """The low ``size`` bytes, zero-extended."""
        width = (1 << size * 8) - 1
        return Tnum(self.value & width, self.mask & width)

    def subreg(self) -> Tnum:
        """The low 32 bits (the kernel's ``tnum_subreg``)."""
        return self.cast(4)

    def with_subreg(self, sub: Tnum) -> Tnum:
        """These upper 32 bits with the low 32 bits of ``sub``."""
        high = Tnum(self.value & ~U32, self.mask & ~U32)
        return high.or_(sub.subreg())


def tnum_range(lo: int, hi: int) -> Tnum:
    """The smallest tnum covering every ``x`` with ``lo <= x <= hi`` (unsigned)."""
    chi = (lo ^ hi) & U64
    bits = chi.bit_length()
    if bits > 63:
        return _UNKNOWN
    delta = (1 << bits) - 1
    return Tnum(lo & ~delta, delta)


def _sext(x: int, bits: int) -> int:
    return x - (1 << bits) if x >> (bits - 1) & 1 else x


_UNKNOWN = Tnum(0, U64)
_ZERO = Tnum(0, 0)
