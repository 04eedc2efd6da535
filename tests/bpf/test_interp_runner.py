"""Programs as the object reader hands them over, run through bpf.runner on both engines."""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bpf_engines import ENGINES

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.memory import BytesRegion, Field, Memory, StructView
from qdisclab.bpf.resolver import CallContext
from qdisclab.bpf.runner import Global, ObjectResolver, code_for, load

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Rel:
    slot: int
    kind: str
    symbol: str
    addend: int = 0


@dataclass
class Prog:
    name: str
    insns: bytes
    relocations: list[Rel]
    lines: dict[int, tuple[str, int, str]] = field(default_factory=dict)

    def source_line(self, slot: int) -> tuple[str, int, str] | None:
        return self.lines.get(slot)


def _unrelocated(text: str) -> bytes:
    """Assembled bytecode with every pseudo ld_imm64's imm left 0, as the reader leaves it."""
    return assemble(text).insns


def test_code_for_patches_offsets_and_names_slots() -> None:
    insns = _unrelocated(
        "r1 = map_value[0]+0 ll\nr2 = map[0] ll\ncall 0\nr3 = map_value[0]+0 ll\nexit"
    )
    prog = Prog(
        "p",
        insns,
        [
            Rel(0, "data", ".data.fifo", 16),
            Rel(2, "map", "flows"),
            Rel(4, "kfunc", "bpf_list_empty"),
            Rel(5, "kconfig", "CONFIG_HZ", 8),
        ],
        {4: ("fifo.bpf.c", 31, "\tif (bpf_list_empty(&q))\n")},
    )
    code = code_for(prog)
    assert dict(code.symbols) == {0: ".data.fifo", 2: "flows", 4: "bpf_list_empty", 5: ".kconfig"}
    assert struct.unpack_from("<i", code.insns, 12)[0] == 16  # second slot of slot 0
    assert struct.unpack_from("<i", code.insns, 6 * 8 + 4)[0] == 8
    assert code.insns[16:40] == insns[16:40]  # other slots untouched
    assert code.source_line is not None
    assert code.source_line(4) == "fifo.bpf.c:31: if (bpf_list_empty(&q))"
    assert code.source_line(3) is None


@pytest.mark.parametrize("engine", ENGINES)
def test_globals_maps_and_kconfig_bound_by_name(engine: str) -> None:
    counters = {"hits": 0}

    def map_add(ctx: CallContext, map_ptr: int, value: int, *_: int) -> int:
        name = resolver.map_at(map_ptr)
        counters[name] += value  # type: ignore[index]
        return 0

    insns = _unrelocated(
        """
        r6 = map_value[0]+0 ll      ; .bss + 8
        r7 = *(u32 *)(r6 + 0)
        r7 += 1
        *(u32 *)(r6 + 0) = r7
        r8 = map_value[0]+0 ll      ; CONFIG_HZ
        r2 = *(u32 *)(r8 + 0)
        r1 = map[0] ll
        call 2
        r0 = r7
        exit
        """
    )
    prog = Prog(
        "count",
        insns,
        [Rel(0, "data", ".bss", 8), Rel(5, "kconfig", "CONFIG_HZ", 0), Rel(8, "map", "hits")],
    )
    memory = Memory()
    bss = bytearray(12)
    resolver = ObjectResolver(
        memory,
        helpers={2: map_add},
        globals={".bss": Global(bss)},
        maps={"hits": "hits"},
        kconfig=(250).to_bytes(4, "little"),
    )
    run = load(prog, resolver, memory, engine=engine).run  # type: ignore[arg-type]
    assert run() == 1 and run() == 2
    assert int.from_bytes(bss[8:12], "little") == 2
    assert counters["hits"] == 500


@pytest.mark.parametrize("engine", ENGINES)
def test_fault_reports_the_source_line_from_line_info(engine: str) -> None:
    insns = _unrelocated("r1 = map_value[0]+0 ll\nr0 = 0\n*(u32 *)(r1 + 0) = r0\nexit")
    prog = Prog(
        "writer",
        insns,
        [Rel(0, "data", ".rodata", 0)],
        {0: ("w.bpf.c", 3, "x = &limit;"), 3: ("w.bpf.c", 4, "*x = 0;")},
    )
    memory = Memory()
    resolver = ObjectResolver(memory, globals={".rodata": Global(bytearray(4), read_only=True)})
    with pytest.raises(BpfFault) as err:
        load(prog, resolver, memory, engine=engine).run()  # type: ignore[arg-type]
    assert (
        str(err.value)
        == "writer: insn 3: write of 4 bytes to read-only .rodata [w.bpf.c:4: *x = 0;]"
    )


def test_missing_references_are_load_errors_naming_them() -> None:
    memory = Memory()
    resolver = ObjectResolver(memory)
    prog = Prog("p", _unrelocated("r1 = map[0] ll\nexit"), [Rel(0, "map", "flows")])
    with pytest.raises(BpfLoadError, match="p: insn 0: map 'flows' is not provided"):
        load(prog, resolver, memory)  # type: ignore[arg-type]
    prog = Prog("p", _unrelocated("call bpf_x\nexit"), [Rel(0, "kfunc", "bpf_rbtree_first")])
    with pytest.raises(BpfLoadError, match="p: insn 0: kfunc 'bpf_rbtree_first' is not provided"):
        load(prog, resolver, memory)  # type: ignore[arg-type]


# ------------------------------------------------- a real object of the corpus

TC_OBJECT = ROOT / "examples" / "bpf" / "tc_count_mark.bpf.o"
needs_object = pytest.mark.skipif(
    importlib.util.find_spec("qdisclab.bpf.objects") is None or not TC_OBJECT.exists(),
    reason="needs the object reader (qdisclab.bpf.objects) and examples/bpf/tc_count_mark.bpf.o",
)

BPF_FUNC_map_lookup_elem = 1
SK_BUFF_LEN, SK_BUFF_MARK, SK_BUFF_PRIORITY, SK_BUFF_DATA, SK_BUFF_DATA_END = 0, 8, 32, 76, 80


class Packet:
    def __init__(self, memory: Memory, payload: bytes) -> None:
        self.len = len(payload)
        self.mark = 0
        self.priority = 0
        self.data = memory.map(BytesRegion("packet data", payload))
        self.data_end = self.data + len(payload)


def _sk_buff(pkt: Packet) -> StructView:
    def setter(attr: str):
        return lambda o, v: setattr(o, attr, v)

    return StructView(
        "__sk_buff",
        pkt,
        192,
        {
            SK_BUFF_LEN: Field(4, lambda o: o.len, None, "len"),
            SK_BUFF_MARK: Field(4, lambda o: o.mark, setter("mark"), "mark"),
            SK_BUFF_PRIORITY: Field(4, lambda o: o.priority, setter("priority"), "priority"),
            SK_BUFF_DATA: Field(4, lambda o: o.data, None, "data", pointer=True),
            SK_BUFF_DATA_END: Field(4, lambda o: o.data_end, None, "data_end", pointer=True),
        },
    )


@needs_object
@pytest.mark.parametrize("engine", ENGINES)
def test_compiled_tc_programs_count_and_mark(engine: str) -> None:
    from qdisclab.bpf.objects import load_object

    obj = load_object(TC_OBJECT)
    memory = Memory()
    stats = [bytearray(8) for _ in range(4)]  # the array map's u64 values
    stat_addrs = [memory.map(BytesRegion(f"tc_stats[{i}]", v)) for i, v in enumerate(stats)]

    def map_lookup_elem(ctx: CallContext, map_ptr: int, key_ptr: int, *_: int) -> int:
        assert resolver.map_at(map_ptr) == "tc_stats"
        key = ctx.memory.load(key_ptr, 4)
        return stat_addrs[key] if key < len(stat_addrs) else 0

    resolver = ObjectResolver(
        memory,
        helpers={BPF_FUNC_map_lookup_elem: map_lookup_elem},
        globals=obj.globals,
        maps={name: name for name in obj.maps},
    )
    ingress = load(obj.program("count_ingress"), resolver, memory, engine=engine)
    egress = load(obj.program("mark_egress"), resolver, memory, engine=engine)
    tcp = bytes([0x45, 0, 0, 40] + [0] * 5 + [6] + [0] * 30)
    udp = bytes([0x45, 0, 0, 40] + [0] * 5 + [17] + [0] * 1190)
    short = bytes([0x45, 0, 0])
    packets = [Packet(memory, p) for p in (tcp, udp, short, tcp)]
    TCX_NEXT = -1
    for pkt in packets:
        ctx = memory.map(_sk_buff(pkt))
        assert ingress.run(ctx) & 0xFFFF_FFFF == TCX_NEXT & 0xFFFF_FFFF
        assert egress.run(ctx) & 0xFFFF_FFFF == TCX_NEXT & 0xFFFF_FFFF
    values = [int.from_bytes(v, "little") for v in stats]
    assert values == [4, 40 + 1200 + 3 + 40, 2, 1]  # packets, bytes, TCP, marked
    assert [p.mark for p in packets] == [0, 0x2A, 0, 0]
    assert [p.priority for p in packets] == [6, 0, 6, 6]
