"""ALU transfer functions on scalar bounds: sound results for every operation.

:func:`view_op` computes ``a op b`` on one half (:class:`~qdisclab.bpf.verifier.bounds.View`)
from the operands' known bits and ranges; :func:`alu` applies it to whole
scalars for ALU64 (the low half computed separately when its bits depend
only on the operands' low halves) and ALU32 (zero-extended). :func:`concrete`
is the ISA's result on concrete values, which the property tests compare
against.

>>> from qdisclab.bpf.verifier.bounds import Scalar
>>> x = Scalar.make(Tnum(0, 0xF), umax=9)
>>> str(alu("+", x, Scalar.const(1), 64))
'scalar(smin=umin=1,smax=umax=10,var_off=(0x0; 0xf))'
>>> concrete("/", 7, 0, 64), concrete("%", 7, 0, 64)
(0, 7)
"""

from __future__ import annotations

from qdisclab.bpf.verifier.bounds import Scalar, View, signed
from qdisclab.bpf.verifier.tnum import Tnum, tnum_range

LOW_HALF_OPS = frozenset({"+", "-", "*", "&", "|", "^", "<<", "neg", "mov"})
"""Operations whose low 32 result bits depend only on the operands' low 32 bits."""


def _fix(bits: int, t: Tnum, umin: int, umax: int, smin: int, smax: int) -> View:
    top, half = (1 << bits) - 1, 1 << (bits - 1)
    t = t.cast(bits // 8)
    if not 0 <= umin <= umax <= top:
        umin, umax = 0, top
    if not -half <= smin <= smax < half:
        smin, smax = -half, half - 1
    return View(bits, t, umin, umax, smin, smax)


def _wrap(lo: int, hi: int, top: int) -> tuple[int, int]:
    """An exact range that may have wrapped once as a whole; else the full range."""
    span = top + 1
    if lo > top and hi > top:
        return lo - span, hi - span
    if lo < 0 and hi < 0:
        return lo + span, hi + span
    return (lo, hi) if lo >= 0 and hi <= top else (0, top)


def view_op(op: str, a: View, b: View) -> View:
    """``a op b`` at ``a.bits`` width: a sound over-approximation of every concrete result."""
    bits = a.bits
    top, half = (1 << bits) - 1, 1 << (bits - 1)
    if op == "mov":
        return b
    if op == "neg":
        return view_op("-", View(bits, Tnum.const(0), 0, 0, 0, 0), a)
    if a.is_const() and b.is_const():
        value = concrete(op, a.t.value, b.t.value, bits)
        return View(bits, Tnum.const(value), value, value, signed(value, bits), signed(value, bits))
    if op == "+":
        return _fix(
            bits,
            a.t.add(b.t),
            *_wrap(a.umin + b.umin, a.umax + b.umax, top),
            a.smin + b.smin,
            a.smax + b.smax,
        )
    if op == "-":
        return _fix(
            bits,
            a.t.sub(b.t),
            *_wrap(a.umin - b.umax, a.umax - b.umin, top),
            a.smin - b.smax,
            a.smax - b.smin,
        )
    if op == "*":
        corners = [x * y for x in (a.smin, a.smax) for y in (b.smin, b.smax)]
        return _fix(
            bits, a.t.mul(b.t), a.umin * b.umin, a.umax * b.umax, min(corners), max(corners)
        )
    if op == "&":
        t = a.t.and_(b.t)
        smin, smax = -half, half - 1
        if a.smin >= 0 or b.smin >= 0:
            smin = 0
            smax = min(x.smax for x in (a, b) if x.smin >= 0)
        return _fix(bits, t, t.umin, min(a.umax, b.umax), smin, smax)
    if op in ("|", "^"):
        t = a.t.or_(b.t) if op == "|" else a.t.xor(b.t)
        umin = max(a.umin, b.umin) if op == "|" else t.umin
        both_nonneg = a.smin >= 0 and b.smin >= 0
        smin = (max(a.smin, b.smin) if op == "|" else 0) if both_nonneg else -half
        smax = signed(t.umax, bits) if both_nonneg else half - 1
        return _fix(bits, t, umin, t.umax, smin, smax)
    if op in ("<<", ">>", "s>>"):
        if not b.is_const() or b.t.value >= bits:
            return View.full(bits)
        k = b.t.value
        if op == "<<":
            return _fix(bits, a.t.lshift(k), a.umin << k, a.umax << k, a.smin << k, a.smax << k)
        if op == ">>":
            return _fix(bits, a.t.rshift(k), a.umin >> k, a.umax >> k, -half, half - 1)
        return _fix(bits, a.t.arshift(k, bits), 0, top, a.smin >> k, a.smax >> k)
    if op in ("/", "%") and b.is_const() and b.t.value:
        k = b.t.value
        if op == "/":
            return _fix(
                bits,
                tnum_range(a.umin // k, a.umax // k),
                a.umin // k,
                a.umax // k,
                -half,
                half - 1,
            )
        hi = min(a.umax, k - 1)
        lo = a.umin if a.umax < k else 0
        return _fix(bits, tnum_range(lo, hi), lo, hi, -half, half - 1)
    return View.full(bits)


def concrete(op: str, x: int, y: int, bits: int) -> int:
    """The ALU's result on concrete unsigned operands, as the ISA defines it."""
    top = (1 << bits) - 1
    x, y = x & top, y & top
    if op == "+":
        r = x + y
    elif op == "-":
        r = x - y
    elif op == "*":
        r = x * y
    elif op == "&":
        r = x & y
    elif op == "|":
        r = x | y
    elif op == "^":
        r = x ^ y
    elif op == "<<":
        r = x << (y & (bits - 1))
    elif op == ">>":
        r = x >> (y & (bits - 1))
    elif op == "s>>":
        r = signed(x, bits) >> (y & (bits - 1))
    elif op == "/":
        r = x // y if y else 0
    elif op == "%":
        r = x % y if y else x
    elif op in ("s/", "s%"):
        sx, sy = signed(x, bits), signed(y, bits)
        if not sy:
            r = 0 if op == "s/" else sx
        else:
            quotient = abs(sx) // abs(sy) * (1 if (sx < 0) == (sy < 0) else -1)
            r = quotient if op == "s/" else sx - quotient * sy
    elif op == "neg":
        r = -x
    elif op == "mov":
        r = y
    else:
        raise ValueError(op)
    return r & top


def alu(op: str, a: Scalar, b: Scalar, bits: int) -> Scalar:
    """``a op b`` for ALU64 (``bits=64``) or ALU32 (``bits=32``, result zero-extended)."""
    if a.is_const() and b.is_const():
        return Scalar.const(concrete(op, a.value, b.value, bits))
    if bits == 32:
        return Scalar.zext32(view_op(op, a.view(32), b.view(32)))
    v64 = view_op(op, a.view(64), b.view(64))
    v32 = view_op(op, a.view(32), b.view(32)) if op in LOW_HALF_OPS else None
    out = Scalar.from_views(v64, v32)
    return out if out is not None else Scalar.unknown()
