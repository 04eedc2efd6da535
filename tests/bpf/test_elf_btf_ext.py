"""ELF reading (pyelftools) and BTF.ext records of compiled objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from bpf_corpus import EXAMPLES, obj

from qdisclab.bpf.btf import Btf
from qdisclab.bpf.btf_ext import BPF_CORE_FIELD_BYTE_OFFSET, BtfExt
from qdisclab.bpf.elf import R_BPF_64_32, R_BPF_64_64, R_BPF_64_ABS64, program_type, read_elf
from qdisclab.bpf.errors import BpfLoadError


def test_sections_symbols_relocations_and_license() -> None:
    elf = read_elf(obj("fifo"))
    assert elf.license == "Dual MIT/GPL"
    assert {s.name for s in elf.program_sections()} == {
        f"struct_ops/fifo_{m}" for m in ("enqueue", "dequeue", "init", "reset", "destroy")
    }
    enqueue = elf.sections["struct_ops/fifo_enqueue"]
    kinds = {(r.type, r.symbol.name) for r in enqueue.relocations}
    assert (R_BPF_64_32, "bpf_qdisc_skb_drop") in kinds  # kfunc call
    assert (R_BPF_64_64, "fifo_queue") in kinds  # ld_imm64 of a global
    ops = elf.sections[".struct_ops.link"]
    assert {(r.type, r.symbol.name) for r in ops.relocations} == {
        (R_BPF_64_ABS64, f"fifo_{m}") for m in ("enqueue", "dequeue", "init", "reset", "destroy")
    }
    drop = elf.symbol("bpf_qdisc_skb_drop")
    assert drop.is_extern and drop.section is None


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("struct_ops/anything", ("struct_ops", "")),
        ("struct_ops", None),
        ("tc", ("tc", "")),
        ("tcx/ingress", ("tcx", "ingress")),
        ("tcx/egress", ("tcx", "egress")),
        ("netkit/primary", ("netkit", "primary")),
        ("netkit/peer", ("netkit", "peer")),
        ("xdp", None),
        ("tcx/sideways", None),
    ],
)
def test_program_types_by_section(section: str, expected: tuple[str, str] | None) -> None:
    assert program_type(section) == expected


def test_not_a_bpf_object(tmp_path: Path) -> None:
    with pytest.raises(BpfLoadError, match="not a BPF object"):
        read_elf("/bin/sh")
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"\x7fELF" + b"\0" * 10)
    with pytest.raises(BpfLoadError, match=r"junk\.o: not a valid ELF object"):
        read_elf(junk)
    with pytest.raises(BpfLoadError, match="cannot read"):
        read_elf(tmp_path / "missing.o")


def _ext(name: str) -> tuple[Btf, BtfExt]:
    elf = read_elf(obj(name))
    btf = Btf.parse(elf.sections[".BTF"].data)
    return btf, BtfExt.parse(elf.sections[".BTF.ext"].data, btf.strings)


def test_line_info_points_at_the_source_lines() -> None:
    _, ext = _ext("dctcp")
    source = (EXAMPLES / "dctcp.bpf.c").read_text().splitlines()
    records = ext.line_info["struct_ops/dctcp_ssthresh"]
    assert records and records[0].insn_off == 0
    for rec in records:
        assert rec.file == "./dctcp.bpf.c"  # reproducible: no build directory in the object
        assert source[rec.line - 1] == rec.line_text
        assert rec.column <= len(rec.line_text) + 1
    assert any("reduced = cwnd -" in rec.line_text for rec in records)


def test_func_info_names_every_function() -> None:
    btf, ext = _ext("fq")
    names = {btf[rec.type_id].name for recs in ext.func_info.values() for rec in recs}
    assert {"fq_enqueue", "fq_dequeue", "wait_less"} <= names
    assert [btf[r.type_id].name for r in ext.func_info[".text"]] == ["wait_less"]


def test_core_records_name_kernel_fields() -> None:
    btf, ext = _ext("fifo")
    relos = ext.core_relos["struct_ops/fifo_enqueue"]
    roots = {btf.skip_modifiers(r.type_id).name for r in relos}
    assert {"sk_buff", "Qdisc"} <= roots
    offsets = [r for r in relos if r.kind == BPF_CORE_FIELD_BYTE_OFFSET]
    assert all(r.access.startswith("0:") for r in offsets)


def test_empty_and_bad_btf_ext() -> None:
    assert BtfExt.parse(bytes(32), b"\0").line_info == {}
    with pytest.raises(BpfLoadError, match="bad magic"):
        BtfExt.parse(b"\x01\x02" + bytes(30), b"\0")
    with pytest.raises(BpfLoadError, match="shorter"):
        BtfExt.parse(b"\x9f\xeb", b"\0")
