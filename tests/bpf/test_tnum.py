"""Tristate numbers are sound: every concrete result lies in the abstract result."""

from hypothesis import given
from hypothesis import strategies as st

from qdisclab.bpf.verifier.tnum import U64, Tnum, tnum_range

values = st.one_of(
    st.integers(0, 64), st.integers(0, U64), st.integers(-64, -1).map(lambda v: v & U64)
)
masks = st.one_of(st.just(0), st.integers(0, 0xFF), st.integers(0, U64))


@st.composite
def member(draw):
    """A tnum and one concrete value it allows."""
    x, mask = draw(values), draw(masks)
    return Tnum(x, mask), x


BINARY = {
    "add": (Tnum.add, lambda x, y: x + y),
    "sub": (Tnum.sub, lambda x, y: x - y),
    "mul": (Tnum.mul, lambda x, y: x * y),
    "and": (Tnum.and_, lambda x, y: x & y),
    "or": (Tnum.or_, lambda x, y: x | y),
    "xor": (Tnum.xor, lambda x, y: x ^ y),
}


@given(member(), member(), st.sampled_from(sorted(BINARY)))
def test_binary_operations_are_sound(a, b, name):
    (ta, x), (tb, y) = a, b
    abstract, concrete = BINARY[name]
    result = abstract(ta, tb)
    assert result.value & result.mask == 0
    assert result.contains(concrete(x, y) & U64)


@given(member(), st.integers(0, 63))
def test_shifts_are_sound(a, k):
    t, x = a
    assert t.lshift(k).contains((x << k) & U64)
    assert t.rshift(k).contains(x >> k)
    signed = x - (1 << 64) if x >> 63 else x
    assert t.arshift(k).contains((signed >> k) & U64)
    lo = x & 0xFFFF_FFFF
    lo_signed = lo - (1 << 32) if lo >> 31 else lo
    assert t.arshift(k % 32, 32).contains((lo_signed >> (k % 32)) & 0xFFFF_FFFF)


@given(member(), member())
def test_intersect_keeps_common_values_and_union_keeps_all(a, b):
    (ta, x), (tb, y) = a, b
    assert ta.union(tb).contains(x) and ta.union(tb).contains(y)
    # a tnum that certainly holds x, intersected with ta, still holds x
    assert ta.intersect(Tnum(x, tb.mask)).contains(x)


@given(values, values, st.integers(0, U64))
def test_range_covers_every_value_between(lo, hi, pick):
    lo, hi = min(lo, hi), max(lo, hi)
    x = lo + pick % (hi - lo + 1)
    assert tnum_range(lo, hi).contains(x)


def test_range_is_tight_for_aligned_spans():
    assert tnum_range(16, 31) == Tnum(16, 15)
    assert tnum_range(5, 5) == Tnum.const(5)
    assert tnum_range(0, U64).is_unknown()


@given(member(), member())
def test_includes_means_every_value_of_the_inner_is_in_the_outer(a, b):
    (ta, x), (tb, y) = a, b
    if ta.includes(tb):
        assert ta.contains(y)
    assert ta.includes(Tnum.const(x))
    assert Tnum.unknown().includes(ta)


def test_subregister_and_cast():
    t = Tnum(0x1_0000_0004, 0x3)
    assert t.subreg() == Tnum(4, 3)
    assert t.with_subreg(Tnum.const(9)) == Tnum.const(0x1_0000_0009)
    assert Tnum(0x1FF, 0).cast(1) == Tnum.const(0xFF)
    assert not Tnum(4, 3).contains(8) and Tnum(4, 3).contains(7)
