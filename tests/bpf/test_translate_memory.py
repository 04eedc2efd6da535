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
