"""The translated entry as a tree of paths, with register moves held back until read.

A loop-free function is written path by path (a conditional jump is an
``if`` holding the path taken), and the entry holds back moves of constants
and registers, writing their values where the registers are read. The
engines must agree wherever a held-back value meets a later write of its
source, a call, a join of two paths or an operation on the register; a
function whose tree would grow too large keeps the block dispatch.
"""

from __future__ import annotations

import pytest
from bpf_engines import ENGINES, corpus_resolver

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.codegen import program_source
from qdisclab.bpf.image import link
from qdisclab.bpf.isa import M64
from qdisclab.bpf.memory import Memory


def _run(engine: str, text: str, *args: int) -> int:
    return ENGINES[engine](assemble(text), corpus_resolver(), Memory()).run(*args)


def _entry(text: str) -> str:
    """The source of the program's own ``run``."""
    return program_source(link(assemble(text), corpus_resolver())).split("def run(")[1]


# Helper #1 returns the sum of R1-R5.
CASES = {
    # R3 copies R2, which is then written: the copy must keep the old value.
    "copy_then_source_written": ("r3 = r2\nr2 = 7\nr1 = 1\ncall 1\nexit", (0, 5), 13),
    # qdisclab's engines leave R1-R5 as they were across a call.
    "argument_read_after_call": ("r1 = 3\ncall 1\nr0 = r1\nexit", (), 3),
    # R6 copies R0, which the call writes.
    "copy_of_r0_across_call": ("r0 = 4\nr6 = r0\nr1 = 1\ncall 1\nr0 += r6\nexit", (), 5),
    # Two paths join at the block that reads R6, each with its own value.
    "join_of_two_paths": (
        "r6 = 1\nif r1 > 3 goto +2\nr6 = 2\ngoto +1\nr6 = 3\nr0 = r6\nexit",
        (9,),
        3,
    ),
    "join_fall_through": (
        "r6 = 1\nif r1 > 3 goto +2\nr6 = 2\ngoto +1\nr6 = 3\nr0 = r6\nexit",
        (2,),
        2,
    ),
    # An operation on a held-back copy wraps like the register.
    "fold_wraps": ("r1 = r2\nr1 += 5\nr0 = r1\nexit", (0, M64), 4),
    "fold_reads_held_source": ("r3 = 9\nr1 = r2\nr1 -= r3\nr0 = r1\nexit", (0, 2), M64 - 6),
    # A register never written holds 0; R10 is the frame pointer.
    "unwritten_register": ("r0 = r7\nexit", (), 0),
    "frame_pointer_copy": ("r1 = r10\nr0 = r1\nr0 -= r10\nexit", (), 0),
    "stack_through_held_copy": (
        "r1 = r10\nr2 = 0x2a\n*(u64 *)(r1 - 8) = r2\nr0 = *(u64 *)(r10 - 8)\nexit",
        (),
        0x2A,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_engines_agree_on_held_back_moves(name: str) -> None:
    text, args, expected = CASES[name]
    assert _run("interp", text, *args) == _run("translate", text, *args) == expected


def test_a_loop_free_entry_has_no_block_dispatch() -> None:
    entry = _entry(CASES["join_of_two_paths"][0])
    assert "if L <= " not in entry and "L = " not in entry and "if r1 > 0x3:" in entry
    assert (
        entry.split("except BpfFault")[0].count("return ") == 2
    )  # one per path, each with its own value of R6


def test_a_constant_only_a_call_reads_is_never_assigned() -> None:
    entry = _entry("r1 = 1\nr2 = 2\ncall 1\nexit")
    assert "r1 = 0x1" not in entry and "r2 = 0x2" not in entry
    assert "(vm, 0x1, 0x2, r3, r4, r5)" in entry


def test_a_loop_keeps_the_dispatch() -> None:
    text = "r0 = 0\nr0 += 1\nif r0 < 5 goto -2\nexit"
    assert "while True:" in _entry(text) and "if L <= " in _entry(text)
    assert _run("interp", text) == _run("translate", text) == 5


# Twelve diamonds in a row: 4096 paths, far past what the tree writes out.
DIAMONDS = "\n".join(f"if r1 & {1 << k} goto +1\nr0 += {k + 1}" for k in range(12)) + "\nexit"


@pytest.mark.parametrize("r1", [0, 0b101010101010, 0xFFF])
def test_a_tree_too_large_keeps_the_dispatch(r1: int) -> None:
    assert "if L <= " in _entry(DIAMONDS)
    assert _run("interp", DIAMONDS, r1) == _run("translate", DIAMONDS, r1)
