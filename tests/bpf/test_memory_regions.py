"""Bounds-checked memory: byte regions, kernel-struct views, mapping, frames."""

from __future__ import annotations

import pytest

from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.memory import BytesRegion, Field, Memory, StructView


def test_bytes_region_bounds_are_exact() -> None:
    mem = Memory()
    base = mem.map(BytesRegion("value", bytearray(12)))
    mem.store(base + 4, 8, 0x1122334455667788)
    assert mem.load(base + 4, 8) == 0x1122334455667788
    with pytest.raises(BpfFault, match="out-of-bounds read of 8 bytes at offset 5 of value"):
        mem.load(base + 5, 8, pc=3)
    with pytest.raises(BpfFault, match="out-of-bounds write of 1 bytes at offset 12"):
        mem.store(base + 12, 1, 0)


def test_bytes_data_is_read_only_unless_said_otherwise() -> None:
    mem = Memory()
    ro = mem.map(BytesRegion("payload", b"\x01\x02"))
    rw = mem.map(BytesRegion("copy", bytearray(b"\x01\x02")))
    assert mem.load(ro, 2) == 0x0201
    with pytest.raises(BpfFault, match="write of 1 bytes to read-only payload"):
        mem.store(ro, 1, 9)
    mem.store(rw + 1, 1, 0x1FF)  # truncated to the access size
    assert mem.load(rw, 2) == 0xFF01
    locked = mem.map(BytesRegion("locked", bytearray(2), writable=False))
    with pytest.raises(BpfFault, match="read-only locked"):
        mem.store(locked, 2, 0)


def test_null_and_unmapped_addresses_fault_differently() -> None:
    mem = Memory()
    base = mem.map(BytesRegion("obj", bytearray(8)))
    with pytest.raises(BpfFault, match=r"null pointer dereference \(read of 4 bytes at 0x10\)"):
        mem.load(0x10, 4)
    with pytest.raises(BpfFault, match="invalid address"):
        mem.load(base - 8, 8)  # below the region: its guard id
    mem.unmap(base)
    with pytest.raises(BpfFault, match=f"invalid address {base:#x}"):
        mem.load(base, 8)  # use after free
    with pytest.raises(BpfFault, match="no region starts there"):
        mem.unmap(base)


def test_regions_get_distinct_bases_with_guards() -> None:
    mem = Memory()
    bases = [mem.map(BytesRegion(f"r{i}", bytearray(4))) for i in range(4)]
    assert len(set(bases)) == 4
    for b in bases:
        assert mem.region_at(b - 1) is None  # the id below each region is unmapped


def test_frames_are_512_bytes_and_at_most_8_deep() -> None:
    mem = Memory()
    fps = [mem.frame_pointer(d) for d in range(8)]
    assert len(set(fps)) == 8
    mem.store(fps[0] - 512, 8, 1)
    with pytest.raises(BpfFault, match="invalid address"):
        mem.store(fps[0] - 513, 1, 1)
    with pytest.raises(BpfFault, match="call stack deeper than 8 frames"):
        mem.frame_pointer(8)
    assert mem.frame_pointer(3) == fps[3]  # reused, not remapped


def test_read_and_write_bytes() -> None:
    mem = Memory()
    base = mem.map(BytesRegion("buf", bytearray(6)))
    mem.write_bytes(base + 1, b"abc")
    assert mem.read_bytes(base, 5) == b"\0abc\0"
    with pytest.raises(BpfFault, match="out-of-bounds"):
        mem.read_bytes(base + 4, 3)


class Sch:
    def __init__(self) -> None:
        self.qlen = 3
        self.limit = 1000
        self.backlog = -1
        self.prio = 0


def _view(sch: Sch) -> StructView:
    def set_limit(o: Sch, v: int) -> None:
        o.limit = v

    def set_prio(o: Sch, v: int) -> None:
        o.prio = v

    return StructView(
        "Qdisc",
        sch,
        32,
        {
            0: Field(4, lambda o: o.qlen, None, "q.qlen"),
            4: Field(4, lambda o: o.limit, set_limit, "limit"),
            8: Field(8, lambda o: o.backlog, None, "qstats.backlog"),
            16: Field(2, lambda o: o.prio, set_prio, "prio"),
        },
    )


def test_struct_view_reads_attributes_live() -> None:
    sch = Sch()
    mem = Memory()
    base = mem.map(_view(sch))
    assert mem.load(base, 4) == 3
    sch.qlen = 7
    assert mem.load(base, 4) == 7
    assert mem.load(base + 8, 8) == 0xFFFF_FFFF_FFFF_FFFF  # -1 seen as its bytes
    assert mem.load(base + 9, 1) == 0xFF  # a narrow load inside one field
    mem.store(base + 4, 4, 64)
    assert sch.limit == 64
    mem.store(base + 16, 2, -2)
    assert sch.prio == 0xFFFE  # setters receive the stored bits, unsigned


def test_struct_view_refuses_what_is_not_a_field() -> None:
    mem = Memory()
    base = mem.map(_view(Sch()))
    with pytest.raises(BpfFault, match=r"write to read-only field q\.qlen of Qdisc"):
        mem.store(base, 4, 1)
    with pytest.raises(BpfFault, match="partial write"):
        mem.store(base + 4, 2, 1)
    with pytest.raises(
        BpfFault, match="read of 8 bytes at offset 0 of Qdisc is not a modelled field"
    ):
        mem.load(base, 8)  # spans two fields
    with pytest.raises(BpfFault, match="offset 20 of Qdisc is not a modelled field"):
        mem.load(base + 20, 4)
    with pytest.raises(BpfFault, match="out-of-bounds read"):
        mem.load(base + 30, 4)


def test_struct_view_layout_is_checked() -> None:
    with pytest.raises(ValueError, match="overlap"):
        StructView("s", object(), 8, {0: Field(4, int), 2: Field(2, int)})
    with pytest.raises(ValueError, match="does not fit"):
        StructView("s", object(), 8, {6: Field(4, int)})


def test_fault_text_names_program_insn_and_line() -> None:
    fault = BpfFault("null pointer dereference", program="enq", pc=4, source_line="q.c:12")
    assert str(fault) == "enq: insn 4: null pointer dereference [q.c:12]"
    assert str(BpfFault("x")) == "x"
