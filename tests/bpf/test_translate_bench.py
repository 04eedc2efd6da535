"""The BPF bench rows run (quick budget), and their FIFO workload is a correct FIFO."""

from __future__ import annotations

import pytest
from bpf_engines import ENGINES

from qdisclab.bench import Budget
from qdisclab.bench.bench_bpf import CHECKSUM, DEQUEUE, ENQUEUE, ROWS, _PyFifo
from qdisclab.bpf.asm import assemble
from qdisclab.bpf.interp import Interpreter
from qdisclab.bpf.memory import BytesRegion, Memory
from qdisclab.bpf.resolver import TableResolver


def test_rows_report_every_figure() -> None:
    out: dict = {}
    for row in ROWS:
        out.update(row(Budget(quick=True)))
    for key in ("interp", "translate"):
        assert out[f"bpf_{key}_insns_per_s"] > 0
        assert out[f"bpf_fifo_{key}_pairs_per_s"] > 0
    assert out["bpf_translate_over_interp"] > 0
    assert out["bpf_fifo_translate_over_python"] > 0 and out["bpf_fifo_translate_over_pfifo"] > 0


def test_checksum_counts_the_instructions_it_claims() -> None:
    from qdisclab.bench.bench_bpf import CHECKSUM_INSNS

    memory = Memory()
    addr = memory.map(BytesRegion("value", bytes(range(64))))
    prog = Interpreter(assemble(CHECKSUM), TableResolver(), memory)
    h = 2166136261
    for b in range(64):
        h = ((h ^ b) * 16777619) & 0xFFFF_FFFF
    assert prog.run(addr) == h
    assert prog.steps == CHECKSUM_INSNS


@pytest.mark.parametrize("engine", ENGINES)
def test_bpf_fifo_behaves_as_its_python_twin(engine: str) -> None:
    memory = Memory()
    state = bytearray(32 + 8 * 64)
    state[12:16] = (5).to_bytes(4, "little")
    addr = memory.map(BytesRegion("fifo", state))
    enq = ENGINES[engine](assemble(ENQUEUE), TableResolver(), memory).run
    deq = ENGINES[engine](assemble(DEQUEUE), TableResolver(), memory).run
    twin = _PyFifo(5)
    ops = [1] * 7 + [0] * 3 + [1] * 4 + [0] * 9  # overfill (drops), drain past empty
    for n, op in enumerate(ops, 1):
        if op:
            assert enq(addr, n, 100 + n) == twin.enqueue(n, 100 + n)
        else:
            assert deq(addr) == twin.dequeue()
    word = lambda off, size: int.from_bytes(state[off : off + size], "little")  # noqa: E731
    assert (word(8, 4), word(16, 8), word(24, 8)) == (twin.qlen, twin.drops, twin.backlog)
    assert twin.drops == 3
