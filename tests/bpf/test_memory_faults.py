"""Faults raised by running programs: one exception naming program, insn and source line."""

from __future__ import annotations

import pytest
from bpf_engines import ENGINES, corpus_resolver

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.code import Code
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.memory import BytesRegion, Field, Memory, StructView


class Skb:
    def __init__(self) -> None:
        self.len = 1500
        self.mark = 0


def _ctx(skb: Skb) -> StructView:
    def set_mark(o: Skb, v: int) -> None:
        o.mark = v

    return StructView(
        "__sk_buff",
        skb,
        16,
        {
            0: Field(4, lambda o: o.len, None, "len"),
            8: Field(4, lambda o: o.mark, set_mark, "mark"),
        },
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_program_reads_and_writes_a_kernel_struct_view(engine: str) -> None:
    skb = Skb()
    memory = Memory()
    ctx = memory.map(_ctx(skb))
    code = assemble(
        """
        r2 = *(u32 *)(r1 + 0)
        r2 += 7
        *(u32 *)(r1 + 8) = r2
        r0 = *(u16 *)(r1 + 0)
        exit
        """,
        name="mark",
    )
    prog = ENGINES[engine](code, corpus_resolver(), memory)
    assert prog.run(ctx) == 1500
    assert skb.mark == 1507
    skb.len = 60
    assert prog.run(ctx) == 60 and skb.mark == 67


@pytest.mark.parametrize("engine", ENGINES)
def test_write_to_read_only_field_names_field_program_and_line(engine: str) -> None:
    memory = Memory()
    ctx = memory.map(_ctx(Skb()))
    base = assemble("r0 = 0\n*(u32 *)(r1 + 0) = r0\nexit", name="tc_prog")
    lines = {0: "prog.c:3 int x = 0;", 1: "prog.c:4 skb->len = x;"}
    code = Code(base.name, base.insns, source_line=lines.get)
    prog = ENGINES[engine](code, corpus_resolver(), memory)
    with pytest.raises(BpfFault) as err:
        prog.run(ctx)
    fault = err.value
    assert (fault.program, fault.pc, fault.source_line) == ("tc_prog", 1, "prog.c:4 skb->len = x;")
    assert str(fault) == (
        "tc_prog: insn 1: write to read-only field len of __sk_buff [prog.c:4 skb->len = x;]"
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_out_of_bounds_packet_read(engine: str) -> None:
    memory = Memory()
    data = memory.map(BytesRegion("packet data", bytes(64)))
    code = assemble("r0 = *(u32 *)(r1 + 62)\nexit", name="parse")
    prog = ENGINES[engine](code, corpus_resolver(), memory)
    with pytest.raises(
        BpfFault, match="parse: insn 0: out-of-bounds read of 4 bytes at offset 62 of packet data"
    ):
        prog.run(data)


@pytest.mark.parametrize("engine", ENGINES)
def test_freed_object_faults_on_use(engine: str) -> None:
    memory = Memory()
    obj = memory.map(BytesRegion("obj", bytearray(8)))
    code = assemble("*(u64 *)(r1 + 0) = 1\nr0 = *(u64 *)(r1 + 0)\nexit", name="uaf")
    prog = ENGINES[engine](code, corpus_resolver(), memory)
    assert prog.run(obj) == 1
    memory.unmap(obj)
    with pytest.raises(BpfFault, match="uaf: insn 0: invalid address"):
        prog.run(obj)


@pytest.mark.parametrize("engine", ENGINES)
def test_budget_is_per_run_and_configurable(engine: str) -> None:
    code = assemble("r0 = 0\nloop:\nr0 += 1\nif r0 < r1 goto loop\nexit", name="spin")
    prog = ENGINES[engine](code, corpus_resolver(), budget=1 + 2 * 100 + 1)
    assert prog.run(100) == 100
    assert prog.run(100) == 100  # the count starts again each run
    with pytest.raises(BpfFault, match="spin: insn 2: instruction budget of 202 exhausted"):
        prog.run(101)


@pytest.mark.parametrize("engine", ENGINES)
def test_skb_view_is_mapped_exactly_while_its_address_is_given_out(engine: str) -> None:
    from qdisclab.bpf.kernel_types import KERNEL_TYPES
    from qdisclab.bpf.views import Views
    from qdisclab.skb import IPPROTO_UDP, SkBuff

    views = Views(Memory())
    skb = SkBuff(1000, 1, 2, 3, 4, IPPROTO_UDP, 0)
    length = KERNEL_TYPES["sk_buff"].field("len").offset
    code = assemble(f"r0 = *(u32 *)(r1 + {length})\nexit", name="skb_len")
    prog = ENGINES[engine](code, corpus_resolver(), views.memory)
    addr = views.address("sk_buff", skb)
    # No region of its own: the view is bound when an access needs it, and reads live.
    assert addr >> 32 not in views.memory.regions and views.struct_of(addr) == "sk_buff"
    assert prog.run(addr) == 1000
    skb.len = 60
    assert prog.run(addr) == 60 and views.address("sk_buff", skb) == addr
    views.release("sk_buff", skb)
    with pytest.raises(BpfFault, match=f"skb_len: insn 0: invalid address {addr + length:#x} "):
        prog.run(addr)
    again = views.address("sk_buff", skb)  # a new address: the old one stays unmapped
    assert again != addr and prog.run(again) == 60 and views.struct_of(addr) == ""
