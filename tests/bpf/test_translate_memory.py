"""The translator's in-place memory paths agree with Memory in the cases that stress them."""

from __future__ import annotations

import pytest
from bpf_engines import ENGINES, corpus_resolver

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.memory import BytesRegion, Field, Memory, StructView


def _run(engine: str, text: str, *regions: BytesRegion | StructView) -> int:
    memory = Memory()
    args = [memory.map(r) for r in regions]
    return ENGINES[engine](assemble(text), corpus_resolver(), memory).run(*args)


@pytest.mark.parametrize("engine", ENGINES)
def test_base_register_refilled_from_the_stack(engine: str) -> None:
    a = BytesRegion("a", bytearray(b"\x01" + bytes(7)))
    b = BytesRegion("b", bytearray(b"\x02" + bytes(7)))
    text = """
        *(u64 *)(r10 - 8) = r2
        r0 = *(u8 *)(r1 + 0)
        r1 = *(u64 *)(r10 - 8)
        r3 = *(u8 *)(r1 + 0)
        r0 <<= 4
        r0 |= r3
        exit
    """
    assert _run(engine, text, a, b) == 0x12


@pytest.mark.parametrize("engine", ENGINES)
def test_base_register_changed_by_an_atomic_fetch(engine: str) -> None:
    a = BytesRegion("a", bytearray(16))
    b = BytesRegion("b", bytearray(b"\x07" + bytes(7)))
    text = """
        *(u64 *)(r1 + 8) = r2
        r3 = r1
        r4 = 0
        r3 = *(u64 *)(r3 + 0)
        r4 = r2
        r3 = r1
        r4 = xchg_64(r1 + 8, r4)
        r0 = *(u8 *)(r4 + 0)
        exit
    """
    assert _run(engine, text, a, b) == 7


@pytest.mark.parametrize("engine", ENGINES)
def test_cmpxchg_that_fails_then_a_store_through_the_same_base(engine: str) -> None:
    a = BytesRegion("a", bytearray(16))
    text = """
        r0 = 1
        r2 = 5
        r0 = cmpxchg_64(r1 + 0, r0, r2)
        *(u64 *)(r1 + 8) = r2
        r0 = *(u64 *)(r1 + 8)
        exit
    """
    assert _run(engine, text, a) == 5
    assert a.data[8] == 5 and a.data[0] == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_offset_carrying_into_the_next_region_id(engine: str) -> None:
    a = BytesRegion("a", bytearray(8))
    text = "r2 = 0xffffffff ll\nr1 += r2\nr0 = *(u8 *)(r1 + 1)\nexit"
    with pytest.raises(BpfFault, match="insn 3: invalid address"):
        _run(engine, text, a)


@pytest.mark.parametrize("engine", ENGINES)
def test_struct_view_through_the_fast_path_falls_back(engine: str) -> None:
    class Obj:
        v = 41

    view = StructView("obj", Obj(), 8, {0: Field(4, lambda o: o.v)})
    assert _run(engine, "r0 = *(u32 *)(r1 + 0)\nr0 += 1\nexit", view) == 42
    with pytest.raises(
        BpfFault, match="read of 4 bytes at offset 4 of obj is not a modelled field"
    ):
        _run(engine, "r0 = *(u32 *)(r1 + 4)\nexit", view)


@pytest.mark.parametrize("engine", ENGINES)
def test_negative_offset_below_a_region(engine: str) -> None:
    a = BytesRegion("a", bytearray(8))
    assert _run(engine, "r1 += 8\nr0 = *(u8 *)(r1 - 8)\nexit", a) == 0
    with pytest.raises(BpfFault, match="insn 1: invalid address"):
        _run(engine, "r1 += 4\nr0 = *(u8 *)(r1 - 5)\nexit", a)


@pytest.mark.parametrize("engine", ENGINES)
def test_load_through_a_register_into_itself(engine: str) -> None:
    a = BytesRegion("a", bytearray(16))
    b = BytesRegion("b", bytearray(b"\x09" + bytes(7)))
    text = """
        *(u64 *)(r1 + 0) = r2
        r1 = *(u64 *)(r1 + 0)
        r0 = *(u8 *)(r1 + 0)
        exit
    """
    assert _run(engine, text, a, b) == 9


class _Sk:
    def __init__(self) -> None:
        self.len, self.mark, self.delta, self.data = 0x11223344, 7, -2, (9 << 32) | 16


def _sk_view(sk: _Sk) -> StructView:
    def set_mark(o: _Sk, value: int) -> None:
        o.mark = value

    return StructView(
        "sk",
        sk,
        24,
        {
            0: Field(4, lambda o: o.len, None, "len"),
            4: Field(4, lambda o: o.mark, set_mark, "mark"),
            8: Field(2, lambda o: o.delta, None, "delta"),
            12: Field(4, lambda o: o.data, None, "data", pointer=True),
        },
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("r0 = *(u8 *)(r1 + 1)", 0x33),  # narrow loads inside a field, little-endian
        ("r0 = *(u16 *)(r1 + 2)", 0x1122),
        ("r0 = *(u16 *)(r1 + 8)", 0xFFFE),  # a negative getter value, truncated
        ("r0 = *(s16 *)(r1 + 8)", 0xFFFF_FFFF_FFFF_FFFE),
        ("r0 = *(s8 *)(r1 + 3)", 0x11),
        ("r0 = *(u32 *)(r1 + 12)", (9 << 32) | 16),  # a pointer field: the whole address
        ("r0 = *(u16 *)(r1 + 12)", 16),  # a narrow part of it: the low bits only
        ("*(u32 *)(r1 + 4) = 99\nr0 = *(u32 *)(r1 + 4)", 99),
        ("r2 = -1\n*(u32 *)(r1 + 4) = r2\nr0 = *(u32 *)(r1 + 4)", 0xFFFF_FFFF),
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_struct_view_fields_read_and_written(engine: str, text: str, expected: int) -> None:
    sk = _Sk()
    assert _run(engine, text + "\nexit", _sk_view(sk)) == expected
    if "= 99" in text:
        assert sk.mark == 99


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("*(u32 *)(r1 + 0) = 1", "insn 0: write to read-only field len of sk"),
        ("*(u16 *)(r1 + 4) = 1", "insn 0: partial write (2 bytes at offset 4) of field mark"),
        ("r0 = *(u32 *)(r1 + 16)", "insn 0: read of 4 bytes at offset 16 of sk is not a mod"),
        ("r0 = *(u64 *)(r1 + 20)", "insn 0: out-of-bounds read of 8 bytes at offset 20 of sk"),
        ("r0 = *(u64 *)(r1 + 0)", "insn 0: read of 8 bytes at offset 0 of sk is not a mod"),
        ("*(u32 *)(r1 + 16) = 1", "insn 0: write of 4 bytes at offset 16 of sk is not a mod"),
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_struct_view_faults_name_the_access(engine: str, text: str, problem: str) -> None:
    with pytest.raises(BpfFault) as caught:
        _run(engine, text + "\nexit", _sk_view(_Sk()))
    assert problem in str(caught.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_region_unmapped_by_a_leaf_call_faults_in_the_same_block(engine: str) -> None:
    from qdisclab.bpf.image import leaf

    memory = Memory()
    obj = memory.map(BytesRegion("object", bytearray(8)))

    def drop(ctx: object, r1: int, *_: int) -> int:
        memory.unmap(r1)
        return 0

    resolver = corpus_resolver()
    resolver.helpers[3] = leaf(drop)
    text = "r6 = r1\nr0 = *(u8 *)(r6 + 0)\ncall 3\nr0 = *(u8 *)(r6 + 0)\nexit"
    prog = ENGINES[engine](assemble(text), resolver, memory)
    with pytest.raises(BpfFault, match="insn 3: invalid address"):
        prog.run(obj)


@pytest.mark.parametrize("budget", [1, 3, 4, 5])
@pytest.mark.parametrize("engine", ENGINES)
def test_straight_line_code_with_leaf_calls_keeps_the_budget(engine: str, budget: int) -> None:
    from qdisclab.bpf.image import leaf

    resolver = corpus_resolver()
    resolver.helpers[3] = leaf(lambda ctx, *regs: 5)
    prog = ENGINES[engine](assemble("r1 = 1\ncall 3\nr0 += 1\nexit"), resolver, Memory(), budget)
    if budget >= 4:
        assert prog.run() == 6
    else:
        with pytest.raises(BpfFault, match=f"insn {budget}: .*budget"):
            prog.run()
