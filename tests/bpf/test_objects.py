"""Loading objects: programs linked with subprograms, relocations, maps, globals, struct_ops."""

from __future__ import annotations

import struct

import pytest
from bpf_corpus import EXAMPLES, obj

from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.externs import provided_kfuncs
from qdisclab.bpf.objects import load_object
from qdisclab.bpf.program import (
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_VALUE,
)
from qdisclab.ops.maps import ArrayMap, HashMap


def _insn(prog, slot: int) -> tuple[int, int, int, int]:
    code, regs, off, imm = struct.unpack_from("<BBhi", prog.insns, slot * 8)
    return code, regs >> 4, off, imm


def test_fifo_programs_and_struct_ops() -> None:
    o = load_object(obj("fifo"))
    assert sorted(o.programs) == [
        "fifo_dequeue",
        "fifo_destroy",
        "fifo_enqueue",
        "fifo_init",
        "fifo_reset",
    ]
    ops = o.struct_ops["fifo"]
    assert (ops.struct, ops.kind_name, ops.link) == ("Qdisc_ops", "bpf_fifo", True)
    assert ops.programs["enqueue"] == "fifo_enqueue" and "peek" not in ops.programs
    assert o.programs["fifo_enqueue"].section == "struct_ops/fifo_enqueue"
    assert "bpf_kfree_skb" in o.kfuncs and "bpf_obj_new_impl" in o.kfuncs


def test_relocated_slots_carry_the_kernels_pseudo_sources() -> None:
    o = load_object(obj("fifo"))
    prog = o.programs["fifo_enqueue"]
    by_kind: dict[str, list] = {}
    for r in prog.relocations:
        by_kind.setdefault(r.kind, []).append(r)
    for r in by_kind["kfunc"]:
        code, src, _, imm = _insn(prog, r.slot)
        assert (code, src, imm) == (0x85, BPF_PSEUDO_KFUNC_CALL, 0)
    for r in by_kind["helper"]:
        code, src, _, imm = _insn(prog, r.slot)
        assert (code, src, imm) == (0x85, 0, r.addend)
    assert {r.symbol for r in by_kind["helper"]} == {
        "bpf_kptr_xchg",
        "bpf_spin_lock",
        "bpf_spin_unlock",
    }
    # global data: the section and the variable's offset in it
    queue = o.globals[".data.fifo"].var("fifo_queue")
    data = by_kind["data"]
    assert {(r.symbol, r.addend) for r in data} >= {(".data.fifo", queue.offset)}
    for r in data:
        code, src, _, _ = _insn(prog, r.slot)
        assert (code, src) == (0x18, BPF_PSEUDO_MAP_VALUE)


def test_subprograms_are_appended_and_calls_fixed() -> None:
    o = load_object(obj("fq"))
    deq = o.programs["fq_dequeue"]
    names = [s.name for s in deq.subprograms]
    assert names == ["fq_dequeue", "wait_less"]
    entry = deq.subprograms[1].slot
    assert entry == deq.subprograms[0].n_slots  # appended right after the program
    (cb,) = [r for r in deq.relocations if r.kind == "subprog"]
    code, src, _, imm = _insn(deq, cb.slot)
    assert (code, src, cb.addend, cb.symbol) == (0x18, BPF_PSEUDO_FUNC, entry, "wait_less")
    assert cb.slot + imm + 1 == entry  # the kernel's pc-relative form
    assert deq.function_at(entry) == "wait_less" and deq.function_at(0) == "fq_dequeue"
    # bpf_rbtree_add_impl takes that callback; the enqueue side never links it
    assert [s.name for s in o.programs["fq_enqueue"].subprograms] == ["fq_enqueue"]


def test_static_call_within_an_object() -> None:
    o = load_object(EXAMPLES.parent.parent / "tests/bpf/objects/maps_all.bpf.o")
    prog = o.programs["touch_maps"]
    calls = [r for r in prog.relocations if r.kind == "subprog"]
    assert [r.symbol for r in calls] == ["bump"]
    assert [s.name for s in prog.subprograms] == ["touch_maps", "bump"]
    for r in calls:
        code, src, _, imm = _insn(prog, r.slot)
        assert (code, src) == (0x85, BPF_PSEUDO_CALL)
        assert r.slot + imm + 1 == r.addend


def test_map_definitions_and_creation() -> None:
    o = load_object(obj("fq"))
    d = o.maps["fq_flows"]
    assert (d.type_name, d.key_size, d.max_entries) == ("hash", 4, 1024)
    assert o.btf.type_str(d.value_type) == "struct fq_flow"
    kinds = {f.kind for f in d.value_fields}
    assert kinds == {"spin_lock", "list_head"}
    (head,) = [f for f in d.value_fields if f.kind == "list_head"]
    assert head.contains == ("fq_pkt", "link")
    maps = o.create_maps()
    assert isinstance(maps["fq_flows"], HashMap) and maps["fq_flows"].max_entries == 1024

    stats = load_object(obj("tc_count_mark")).create_maps()["tc_stats"]
    assert isinstance(stats, ArrayMap) and stats.lookup(0) == bytearray(8)
    prog = load_object(obj("tc_count_mark")).programs["count_ingress"]
    maps_used = [r for r in prog.relocations if r.kind == "map"]
    assert maps_used and {r.symbol for r in maps_used} == {"tc_stats"}
    assert all(_insn(prog, r.slot)[1] == BPF_PSEUDO_MAP_FD for r in maps_used)


def test_global_data_sections_and_graph_roots() -> None:
    o = load_object(obj("fq"))
    rodata = o.globals[".rodata"]
    assert rodata.read_only
    limit = rodata.var("flow_limit")
    assert int.from_bytes(rodata.data[limit.offset : limit.offset + 4], "little") == 100
    lists = o.globals[".data.fq_lists"]
    assert [(f.kind, f.name, f.contains) for f in lists.fields] == [
        ("spin_lock", "fq_lists_lock", None),
        ("list_head", "new_flows", ("fq_link", "node")),
        ("list_head", "old_flows", ("fq_link", "node")),
    ]
    assert [f.offset for f in lists.fields] == [0, 8, 24]
    tree = o.globals[".data.fq_tree"]
    assert [(f.kind, f.contains) for f in tree.fields][1] == ("rb_root", ("fq_wait", "rb"))


def test_congestion_control_struct_ops_data_members() -> None:
    o = load_object(obj("dctcp"))
    ops = o.struct_ops["dctcp"]
    assert (ops.struct, ops.kind_name, ops.data["flags"]) == ("tcp_congestion_ops", "bpf_dctcp", 2)
    assert set(ops.programs) == {
        "init",
        "ssthresh",
        "cong_avoid",
        "in_ack_event",
        "set_state",
        "cwnd_event",
        "undo_cwnd",
    }
    cubic = load_object(obj("cubic"))
    assert [e.name for e in cubic.externs if e.kind == "kconfig"] == ["CONFIG_HZ"]
    assert {"tcp_sock", "inet_connection_sock", "ack_sample"} <= set(cubic.core_types)


def test_unknown_kfunc_is_one_line_naming_it() -> None:
    with pytest.raises(BpfLoadError) as info:
        load_object(EXAMPLES.parent.parent / "tests/bpf/objects/unknown_kfunc.bpf.o")
    msg = str(info.value)
    assert "extern kfunc 'bpf_qdisc_teleport' is not provided by qdisclab" in msg
    assert "\n" not in msg


def test_a_kfunc_missing_from_the_tables_fails_fifo() -> None:
    fewer = provided_kfuncs() - {"bpf_kfree_skb"}
    with pytest.raises(BpfLoadError, match="extern kfunc 'bpf_kfree_skb'"):
        load_object(obj("fifo"), kfuncs=fewer)


def test_unmodelled_field_names_struct_field_and_line() -> None:
    with pytest.raises(BpfLoadError) as info:
        load_object(EXAMPLES.parent.parent / "tests/bpf/objects/unmodelled_field.bpf.o")
    msg = str(info.value)
    assert "struct sk_buff has no field 'secmark' in qdisclab's model" in msg
    assert "secmark_enqueue" in msg and "unmodelled_field.bpf.c:" in msg


def test_program_lookup_by_name_or_section() -> None:
    o = load_object(obj("tc_count_mark"))
    assert o.program("tcx/egress").name == "mark_egress"
    assert o.program("count_ingress").section == "tcx/ingress"
    with pytest.raises(BpfLoadError, match="no program or section 'tc'"):
        o.program("tc")


def test_source_line_of_a_relocated_slot() -> None:
    o = load_object(obj("must_fail/kfunc_not_allowed"))
    prog = o.programs["wd_reset"]
    (wd,) = [r for r in prog.relocations if r.symbol == "bpf_qdisc_watchdog_schedule"]
    file, line, text = prog.source_line(wd.slot)
    assert file.endswith("kfunc_not_allowed.bpf.c")
    assert "bpf_qdisc_watchdog_schedule" in text
    src = (EXAMPLES / "must_fail/kfunc_not_allowed.bpf.c").read_text().splitlines()
    assert src[line - 1] == text


def test_an_object_whose_kptr_tags_were_dropped_is_refused() -> None:
    # What clang 14 makes of fifo.bpf.c: the same BTF with the "kptr" type tag renamed.
    data = obj("fifo").read_bytes()
    assert b"\0kptr\0" in data
    load_object("fifo.bpf.o", data=data)  # as built: loads
    with pytest.raises(BpfLoadError) as info:
        load_object("fifo14.bpf.o", data=data.replace(b"\0kptr\0", b"\0kptx\0"))
    msg = str(info.value)
    assert msg.startswith("fifo14.bpf.o: ") and "no field is tagged __kptr" in msg
    assert "clang < 15" in msg and "qdisclab bpf build" in msg


def test_kconfig_externs_get_their_own_places_and_values() -> None:
    o = load_object(EXAMPLES.parent.parent / "tests/bpf/objects/maps_all.bpf.o")
    area = o.globals[".kconfig"]
    assert area.read_only
    places = {v.name: (v.offset, v.size) for v in area.variables}
    assert places == {
        "CONFIG_BPF_SYSCALL": (0, 1),
        "CONFIG_HZ": (8, 8),
        "CONFIG_QDISCLAB_NOPE": (16, 4),
    }
    values = {
        n: int.from_bytes(area.data[off : off + size], "little")
        for n, (off, size) in places.items()
    }
    assert values == {"CONFIG_BPF_SYSCALL": 1, "CONFIG_HZ": 1000, "CONFIG_QDISCLAB_NOPE": 0}
    relocs = [r for r in o.programs["touch_maps"].relocations if r.kind == "kconfig"]
    assert {r.symbol for r in relocs} == set(places)
    for r in relocs:
        assert r.addend == places[r.symbol][0]


def test_maps_without_btf_name_the_fix() -> None:
    data = obj("tc_count_mark").read_bytes().replace(b".BTF\0", b".XTF\0")
    with pytest.raises(BpfLoadError, match=r"\.maps\) need BTF: build with -g"):
        load_object("nobtf.bpf.o", data=data)
