"""Scalar bounds are sound against concrete values, and comparisons narrow them as the kernel does."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qdisclab.bpf.verifier.arith import alu, concrete
from qdisclab.bpf.verifier.bounds import NEGATION, Scalar, refine, s32, s64
from qdisclab.bpf.verifier.tnum import U32, U64, Tnum

values = st.one_of(
    st.integers(0, 300), st.integers(0, U64), st.integers(-300, -1).map(lambda v: v & U64)
)


@st.composite
def member(draw):
    """A consistent scalar and one concrete value it allows, built from random facts around x."""
    x = draw(values)
    mask = draw(st.one_of(st.just(0), st.integers(0, 0xFFFF), st.just(U64), st.integers(0, U64)))
    lo = draw(st.one_of(st.just(0), st.integers(0, x)))
    hi = draw(st.one_of(st.just(U64), st.integers(x, U64)))
    sx = s64(x)
    slo = draw(st.one_of(st.just(-(1 << 63)), st.integers(-(1 << 63), sx)))
    shi = draw(st.one_of(st.just((1 << 63) - 1), st.integers(sx, (1 << 63) - 1)))
    lo32 = draw(st.one_of(st.just(0), st.integers(0, x & U32)))
    hi32 = draw(st.one_of(st.just(U32), st.integers(x & U32, U32)))
    scalar = Scalar.make(Tnum(x, mask), lo, hi, slo, shi, lo32, hi32)
    assert scalar is not None, "a set holding x is not empty"
    assert scalar.contains(x), f"sync lost {x:#x}: {scalar}"
    return scalar, x


OPS64 = ["+", "-", "*", "&", "|", "^", "<<", ">>", "s>>", "/", "%", "s/", "s%"]


# Drawing a scalar and a member of it is slow on a loaded machine; the property is what counts.
TOLERANT = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)


@TOLERANT
@given(member(), member(), st.sampled_from(OPS64), st.sampled_from([64, 32]))
def test_alu_is_sound(a, b, op, bits):
    (sa, x), (sb, y) = a, b
    result = alu(op, sa, sb, bits)
    expected = concrete(op, x, y, bits)
    assert result.contains(expected), f"{x:#x} {op} {y:#x} = {expected:#x} not in {result}"


@TOLERANT
@given(member(), st.integers(0, 63), st.sampled_from(["<<", ">>", "s>>"]))
def test_shift_by_constant_is_sound(a, k, op):
    sa, x = a
    assert alu(op, sa, Scalar.const(k), 64).contains(concrete(op, x, k, 64))


@TOLERANT
@given(member(), member(), st.sampled_from(sorted(NEGATION)), st.sampled_from([64, 32]))
def test_refinement_keeps_every_pair_on_its_branch(a, b, op, bits):
    """If the concrete pair takes a branch, refinement of that branch still holds both values."""
    (sa, x), (sb, y) = a, b
    top = (1 << bits) - 1
    cx, cy = x & top, y & top
    sgn = s64 if bits == 64 else s32
    truth = {
        "==": cx == cy,
        "!=": cx != cy,
        "<": cx < cy,
        "<=": cx <= cy,
        ">": cx > cy,
        ">=": cx >= cy,
        "s<": sgn(cx) < sgn(cy),
        "s<=": sgn(cx) <= sgn(cy),
        "s>": sgn(cx) > sgn(cy),
        "s>=": sgn(cx) >= sgn(cy),
        "&": bool(cx & cy),
        "!&": not cx & cy,
    }[op]
    out = refine(sa.view(bits), sb.view(bits), op, truth)
    assert out is not None, "the branch the values take cannot be impossible"
    na, nb = sa.with_view(out[0]), sb.with_view(out[1])
    assert na is not None and na.contains(x)
    assert nb is not None and nb.contains(y)


def test_comparison_narrows_both_successors():
    x = Scalar.unknown().view(64)
    ten = Scalar.const(10).view(64)
    taken, _ = refine(x, ten, ">", True)
    fall, _ = refine(x, ten, ">", False)
    assert (taken.umin, taken.umax) == (11, U64)
    assert (fall.umin, fall.umax) == (0, 10)


def test_impossible_branch_is_none():
    five, ten = Scalar.const(5).view(64), Scalar.const(10).view(64)
    assert refine(five, ten, ">", True) is None
    assert refine(five, ten, ">", False) is not None
    assert refine(five, five, "!=", True) is None


def test_signed_compare_refines_signed_range():
    x = Scalar.unknown()
    (v, _) = refine(x.view(64), Scalar.const(0).view(64), "s>=", True)
    narrowed = x.with_view(v)
    assert narrowed.smin == 0 and narrowed.umax == (1 << 63) - 1


def test_32bit_compare_bounds_the_low_half_only():
    x = Scalar.unknown()
    (v, _) = refine(x.view(32), Scalar.const(100).view(32), "<", True)
    narrowed = x.with_view(v)
    assert (narrowed.u32_min, narrowed.u32_max) == (0, 99)
    assert narrowed.umax == (U64 & ~U32) | 99  # the upper half stays unknown


def test_32bit_alu_zero_extends():
    r = alu("+", Scalar.const(0xFFFF_FFFF), Scalar.const(1), 32)
    assert r.is_const() and r.value == 0
    anything = alu("+", Scalar.unknown(), Scalar.const(0), 32)
    assert anything.umax == U32 and anything.smin == 0


def test_sync_derives_ranges_from_known_bits():
    s = Scalar.make(Tnum(0, 0xFF))
    assert (s.umin, s.umax, s.smin, s.smax, s.u32_max) == (0, 255, 0, 255, 255)
    assert str(s) == "scalar(smin=umin=0,smax=umax=255,var_off=(0x0; 0xff))"


def test_sync_detects_contradiction():
    assert Scalar.make(Tnum.const(5), umin=6) is None
    assert Scalar.make(Tnum(0, U64), umin=10, umax=9) is None


@pytest.mark.parametrize(("a", "b", "expected"), [(7, 3, 2), (7, 0, 0), (2**64 - 7, 2, 2**64 - 3)])
def test_division_semantics(a, b, expected):
    op = "s/" if a > 2**63 else "/"
    assert concrete(op, a, b, 64) == expected
