"""The translator drops a 32-bit mask only where the register is known below 2**32.

A 32-bit result (ALU32, an unsigned load of at most 4 bytes, a small
constant) makes the mask of a later JMP32 test, ALU32 operand or 4-byte
store a no-op, so the translated code leaves it out; a later 64-bit write
or a call (R0-R5) ends the fact, and the mask comes back. Both engines must
agree in every case.
"""

from __future__ import annotations

from functools import partial

import pytest
from bpf_engines import ENGINES, corpus_resolver

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.codegen import program_source
from qdisclab.bpf.image import leaf, link, returns_address
from qdisclab.bpf.memory import BytesRegion, Memory
from qdisclab.bpf.resolver import CallContext, TableResolver

BIG = 0x1_0000_0005  # above 2**32, low word 5


def _run(engine: str, text: str, *args: int) -> int:
    return ENGINES[engine](assemble(text), corpus_resolver(), Memory()).run(*args)


def _source(text: str) -> str:
    return program_source(link(assemble(text), corpus_resolver()))


NARROW_TEST = "w1 = w2\nr0 = 0\nif w1 > 4 goto +1\nr0 = 1\nexit"
WIDENED_TEST = "w1 = w2\nr1 = r3\nr0 = 0\nif w1 > 4 goto +1\nr0 = 1\nexit"
# R0 is narrow before the call (w0 = w2) and holds helper 1's 64-bit sum after it.
CALLED_TEST = "w0 = w2\ncall 1\nr1 = r0\nr0 = 0\nif w1 > 4 goto +1\nr0 = 1\nexit"


def test_a_32_bit_result_is_tested_without_its_mask() -> None:
    assert "if r1 > 0x4:" in _source(NARROW_TEST)


def test_a_64_bit_write_or_a_call_brings_the_mask_back() -> None:
    assert "if (r1 & 0xffffffff) > 0x4:" in _source(WIDENED_TEST)
    assert "if (r1 & 0xffffffff) > 0x4:" in _source(CALLED_TEST)


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_agree_where_the_fact_holds_and_where_it_ended(engine: str) -> None:
    assert _run(engine, NARROW_TEST, 0, BIG) == 0  # w1 = 5 > 4
    assert _run(engine, WIDENED_TEST, 0, 0, BIG) == 0  # low word of r3 is 5
    assert _run(engine, WIDENED_TEST, 0, 0, 0x1_0000_0003) == 1
    # helper 1 sums R1-R5: the low word of 3 + 0x1_0000_0002 is 5, of 1 + 0x1_0000_0002 is 3
    assert _run(engine, CALLED_TEST, 3, 0, 0x1_0000_0002) == 0
    assert _run(engine, CALLED_TEST, 1, 0, 0x1_0000_0002) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_a_narrow_value_stored_as_a_word_keeps_its_value(engine: str) -> None:
    text = "w2 += 7\n*(u32 *)(r10 - 4) = r2\nr0 = *(u32 *)(r10 - 4)\nexit"
    assert "_pI(stk, 508, r2)" in _source(text)
    assert _run(engine, text, 0, 0xFFFF_FFFE) == 5  # w2 wraps to 5


def _mapped(ctx: CallContext, size: int, *_: int) -> int:
    return ctx.memory.map(BytesRegion("obj", bytearray(size)))


def _null(ctx: CallContext, *_: int) -> int:
    return 0


# The same work marked as returning NULL or a mapped address, and not (the marks are
# the functions' own: each name gets a function of its own).
ADDRESSES = TableResolver(
    kfuncs={
        "new_obj": returns_address(leaf(partial(_mapped))),
        "new_bytes": leaf(partial(_mapped)),
        "null_obj": returns_address(leaf(_null)),
    }
)
FIELD = "r1 = 16\ncall {f}\nr6 = r0\nif r6 == 0 goto +1\nr6 += {off}\nr0 = r6\nexit"
OVERFLOW_TEST = "if r6 > 0xffffffffffffffff"


def _address_source(text: str) -> str:
    return program_source(link(assemble(text), ADDRESSES))


def test_a_field_of_a_returned_address_is_summed_without_the_overflow_test() -> None:
    assert OVERFLOW_TEST not in _address_source(FIELD.format(f="new_obj", off=24))


@pytest.mark.parametrize(
    ("function", "off"),
    [
        pytest.param("new_bytes", 24, id="not-marked"),
        pytest.param("new_obj", -8, id="negative-offset"),
    ],
)
def test_the_overflow_test_stays_unless_an_address_gets_an_offset(function: str, off: int) -> None:
    assert OVERFLOW_TEST in _address_source(FIELD.format(f=function, off=off))


def test_a_write_or_a_call_ends_what_is_known_of_an_address() -> None:
    written = FIELD.format(f="new_obj", off=24).replace("r6 = r0\n", "r6 = r0\nr6 |= 1\n")
    assert OVERFLOW_TEST in _address_source(written)
    called = FIELD.format(f="new_obj", off=24).replace("r6 = r0\n", "r6 = r0\ncall new_bytes\n")
    assert "if r6 > 0xffffffffffffffff" not in _address_source(called)  # r6 is callee-saved
    moved = "r1 = 16\ncall new_obj\ncall new_bytes\nr0 += 24\nexit"
    assert "if r0 > 0xffffffffffffffff" in _address_source(moved)  # r0 is the second result


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_agree_on_fields_of_addresses_and_of_null(engine: str) -> None:
    run = ENGINES[engine]
    got = run(assemble(FIELD.format(f="new_obj", off=24)), ADDRESSES, Memory()).run()
    assert got & 0xFFFF_FFFF == 24 and got >> 32
    null = "call null_obj\nr0 += -8\nexit"  # NULL minus 8 wraps, as the ISA says
    assert run(assemble(null), ADDRESSES, Memory()).run() == (1 << 64) - 8
