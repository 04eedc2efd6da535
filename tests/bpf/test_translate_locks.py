"""A spin lock held across kfuncs written in place, as the translator notes it.

Between ``bpf_spin_lock`` and ``bpf_spin_unlock`` of the same constant lock
in one block the translated entry keeps the lock in a local instead of the
set of held locks; a fault in between must still leave the lock held, as the
calls leave it on the interpreter, so the next run's lock is a deadlock.
"""

from __future__ import annotations

import pytest
from bpf_corpus import obj
from bpf_engines import ENGINES

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.kfunc_binding import ProgramEnv
from qdisclab.bpf.memory import BytesRegion
from qdisclab.bpf.objects import load_object
from qdisclab.bpf.resolver import TableResolver

LOCK = 0x1000
PROGRAM = f"""
    r6 = r1
    r1 = {LOCK:#x} ll
    call 93
    r0 = *(u8 *)(r6 + 0)
    r1 = {LOCK:#x} ll
    call 94
    exit
"""


def _program(engine: str):
    env = ProgramEnv(load_object(obj("fifo")), "Qdisc_ops")
    helpers = env.helpers()
    resolver = TableResolver(helpers={93: helpers[93], 94: helpers[94]})
    return env, ENGINES[engine](assemble(PROGRAM), resolver, env.memory)


def test_the_translated_entry_notes_the_lock_in_a_local() -> None:
    _, prog = _program("translate")
    entry = prog.source.split("def run")[1]
    # The lock's address is a constant held back from R1 and written into the code.
    assert f"h3 = {LOCK:#x}" in entry  # only the fault handler adds to the set
    assert entry.count("s3_locks.add(") == entry.count("if h3: s3_locks.add(h3)") == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_a_lock_is_free_after_a_run_and_held_after_a_fault_inside_it(engine: str) -> None:
    env, prog = _program(engine)
    data = env.memory.map(BytesRegion("data", bytearray(b"\x2a")))
    assert prog.run(data) == 0  # the unlock's result
    assert LOCK not in env.locks
    assert prog.run(data) == 0  # free again: the second lock does not deadlock
    with pytest.raises(BpfFault, match="null") as fault:
        prog.run(0)
    assert fault.value.pc == 4
    assert LOCK in env.locks
    with pytest.raises(BpfFault, match="already held"):
        prog.run(data)


# A section holding only a kfunc written in place: bpf_list_push_back of R6's node onto
# a list head. A node that is no object faults in the call itself.
HEAD = 0x2000
QUIET = f"""
    r6 = r1
    r1 = {LOCK:#x} ll
    call 93
    r1 = {HEAD:#x} ll
    r2 = r6
    r3 = 0
    r4 = 0
    call bpf_list_push_back_impl
    r1 = {LOCK:#x} ll
    call 94
    exit
"""


def _quiet(engine: str):
    env = ProgramEnv(load_object(obj("fifo")), "Qdisc_ops")
    helpers, kfuncs = env.helpers(), env.kfuncs()
    resolver = TableResolver(
        helpers={93: helpers[93], 94: helpers[94]},
        kfuncs={"bpf_list_push_back_impl": kfuncs["bpf_list_push_back_impl"]},
    )
    return env, ENGINES[engine](assemble(QUIET), resolver, env.memory)


def test_a_section_where_only_calls_can_fault_notes_the_lock_around_them_alone() -> None:
    _, prog = _quiet("translate")
    entry = prog.source.split("def run")[1]
    lines = [line.strip() for line in entry.splitlines()]
    noted = lines.index(f"h3 = {LOCK:#x}")
    # Noted just before the call's own lines (the list's first push is the call), and
    # cleared after them: the common case neither notes nor clears it.
    assert lines[noted + 1] == "try:" and lines[noted + 2].startswith(f"r0 = c9(vm, {HEAD:#x}, ")
    assert lines.count(f"h3 = {LOCK:#x}") == 1 and lines[noted + 5] == "h3 = 0"
    assert lines.count("h3 = 0") == 2  # and where the entry starts


@pytest.mark.parametrize("engine", ENGINES)
def test_a_fault_in_a_call_of_a_quiet_section_leaves_the_lock_held(engine: str) -> None:
    env, prog = _quiet(engine)
    with pytest.raises(BpfFault) as fault:
        prog.run(0x1234_0000_0000)  # no object there
    assert fault.value.pc == 9  # the push (ld_imm64 takes two slots)
    assert LOCK in env.locks
    with pytest.raises(BpfFault, match="already held"):
        prog.run(0x1234_0000_0000)
