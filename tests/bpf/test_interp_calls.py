"""Calls out of a program: helpers by id, kfuncs by name, callbacks, pseudo immediates."""

from __future__ import annotations

import pytest
from bpf_engines import ENGINES

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.resolver import CallContext, TableResolver


def _obj_new(ctx: CallContext, size: int, *_: int) -> int:
    from qdisclab.bpf.memory import BytesRegion

    return ctx.memory.map(BytesRegion("obj", bytearray(size)))


def _read_u64(ctx: CallContext, ptr: int, *_: int) -> int:
    return ctx.memory.load(ptr, 8)


def _fault(ctx: CallContext, *_: int) -> int:
    raise BpfFault("bpf_kfree_skb: skb not owned")


def _loop(ctx: CallContext, n: int, callback: int, arg: int, *_: int) -> int:
    """bpf_loop-style: call ``callback(i, arg)`` until it returns 1."""
    for i in range(n):
        if ctx.call_function(callback, i, arg):
            return i + 1
    return n


RESOLVER = TableResolver(
    helpers={181: _loop, 7: _fault},
    kfuncs={"bpf_obj_new_impl": _obj_new, "read_u64": _read_u64},
    symbols={"flows": 0xAB00},
)


@pytest.mark.parametrize("engine", ENGINES)
def test_kfunc_by_name_gets_memory_and_arguments(engine: str) -> None:
    code = assemble(
        """
        r1 = 16
        call bpf_obj_new_impl
        r6 = r0
        *(u64 *)(r6 + 8) = 77
        r1 = r6
        r1 += 8
        call read_u64
        exit
        """
    )
    assert ENGINES[engine](code, RESOLVER).run() == 77


@pytest.mark.parametrize("engine", ENGINES)
def test_helper_calls_back_into_the_program(engine: str) -> None:
    code = assemble(
        """
        *(u64 *)(r10 - 8) = 0
        r1 = 10
        r2 = func[@step] ll
        r3 = r10
        r3 += -8
        call 181
        r6 = r0
        r0 = *(u64 *)(r10 - 8)
        r0 <<= 8
        r0 |= r6
        exit
    step:
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        if r1 != 4 goto +1
        r0 = 1
        exit
        """
    )
    # i = 0..4 summed into the caller's stack slot, stopping after i == 4.
    assert ENGINES[engine](code, RESOLVER).run() == (0 + 1 + 2 + 3 + 4) << 8 | 5


@pytest.mark.parametrize("engine", ENGINES)
def test_fault_inside_a_helper_is_pinned_to_the_call(engine: str) -> None:
    code = assemble("r0 = 0\ncall 7\nexit", name="drop")
    with pytest.raises(BpfFault) as err:
        ENGINES[engine](code, RESOLVER).run()
    assert (err.value.program, err.value.pc) == ("drop", 1)
    assert "skb not owned" in str(err.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_other_exceptions_from_helpers_pass_through(engine: str) -> None:
    def boom(ctx: CallContext, *_: int) -> int:
        raise KeyError("ownership")

    code = assemble("call 9\nexit")
    with pytest.raises(KeyError):
        ENGINES[engine](code, TableResolver(helpers={9: boom})).run()


@pytest.mark.parametrize("engine", ENGINES)
def test_callback_to_a_non_function_faults(engine: str) -> None:
    code = assemble("r2 = 0x1234 ll\nr1 = 1\ncall 181\nexit", name="bad_cb")
    with pytest.raises(BpfFault, match="bad_cb: insn 3: call of 0x1234: not a function"):
        ENGINES[engine](code, RESOLVER).run()


@pytest.mark.parametrize("engine", ENGINES)
def test_pseudo_immediate_resolves_by_symbol(engine: str) -> None:
    code = assemble("r0 = map[flows] ll\nr0 += 1\nexit")
    assert ENGINES[engine](code, RESOLVER).run() == 0xAB01


@pytest.mark.parametrize("engine", ENGINES)
def test_unresolved_references_are_load_errors_naming_them(engine: str) -> None:
    with pytest.raises(BpfLoadError, match=r"prog: insn 0: unresolved ld_imm64 .*'queues'"):
        ENGINES[engine](assemble("r0 = map[queues] ll\nexit"), RESOLVER)
    with pytest.raises(BpfLoadError, match="insn 1: unknown kfunc 'bpf_rbtree_first'"):
        ENGINES[engine](assemble("r0 = 0\ncall bpf_rbtree_first\nexit"), RESOLVER)


@pytest.mark.parametrize("engine", ENGINES)
def test_arguments_are_taken_modulo_2_64(engine: str) -> None:
    code = assemble("r0 = r1\nr0 += r2\nexit")
    assert ENGINES[engine](code, RESOLVER).run(-1, 3) == 2


def test_translated_source_inlines_alu_and_stack_access() -> None:
    from qdisclab.bpf.translate import Translated

    code = assemble(
        "r1 += 3\nw2 = w1\nr2 s>>= 2\n*(u64 *)(r10 - 8) = r2\nr0 = *(u64 *)(r10 - 8)\nexit"
    )
    body = Translated(code, RESOLVER).source.split("\n", 2)[2]  # past build()'s signature
    assert "ld(" not in body and "st(" not in body  # in-bounds stack access goes to the bytes
    # the sum is masked only past 2**64 - 1 (registers are never negative)
    assert "r1 += 0x3\n" in body and "if r1 > 0xffffffffffffffff: r1 &= 0xffffffffffffffff" in body
