"""The verifier's proven accesses, and the translator's code specialised by them.

A fact only picks the fast path: with a fact that is wrong for the pointer
the program actually gets, results and faults are the reference's.
"""

from __future__ import annotations

import pytest
from bpf_corpus import EXAMPLES
from bpf_engines import corpus_resolver

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.interp import Interpreter
from qdisclab.bpf.memory import BytesRegion, Memory
from qdisclab.bpf.objects import load_object
from qdisclab.bpf.proven import BYTES, CTX, STRUCT, Access, Proven
from qdisclab.bpf.translate import Translated
from qdisclab.bpf.verifier.objects import verify_object
from qdisclab.bpf.views import Views
from qdisclab.bpf.wrap import CallbackWrap
from qdisclab.skb import IPPROTO_UDP, SkBuff

QDISC = Access(STRUCT, "Qdisc", 0)


class _Sch:
    """The attributes a Qdisc view of this test reads and writes."""

    def __init__(self) -> None:
        self.limit, self.handle, self.qlen, self.backlog = 100, 0x10000, 7, -1


def _engines(text: str, facts: dict[int, Access]) -> tuple[Translated, Interpreter, Views]:
    memory = Memory()
    views = Views(memory)
    code = assemble(text)
    proven = Proven(facts, ctx_bytes=True)
    translated = Translated(code, corpus_resolver(), memory, proven=proven, views=views)
    return translated, Interpreter(code, corpus_resolver(), memory), views


def _both(text: str, facts: dict[int, Access], arg_of: object) -> tuple[object, object, str]:
    """Each engine's result (or fault text) for ``text`` run on ``arg_of(views, memory)``."""
    translated, reference, views = _engines(text, facts)
    arg = arg_of(views, views.memory)  # type: ignore[operator]
    out = []
    for engine in (translated, reference):
        try:
            out.append(engine.run(arg))
        except BpfFault as fault:
            out.append(str(fault))
    return out[0], out[1], translated.source


def test_the_verifier_records_what_each_access_reads() -> None:
    obj = load_object(EXAMPLES / "fifo.bpf.o")
    enqueue = verify_object(obj)[0]
    assert enqueue.target.program.name == "fifo_enqueue" and enqueue.stats is not None
    accesses = enqueue.stats.accesses
    assert accesses[0] == accesses[1] == accesses[2] == Access(CTX)  # the callback's arguments
    assert accesses[3] == Access(STRUCT, "sk_buff", 0)  # skb->len
    assert accesses[4] == Access(BYTES)  # the stack slot holding len
    assert accesses[6] == Access(STRUCT, "Qdisc", 0)  # sch->q.qlen: q embedded at offset 40


def test_a_struct_field_is_read_and_written_as_the_objects_attribute() -> None:
    text = """
        r2 = *(u32 *)(r1 + 0)
        r2 += 1
        *(u32 *)(r1 + 0) = r2
        r0 = *(u32 *)(r1 + 40)
        r0 <<= 8
        r3 = *(u8 *)(r1 + 0)
        r0 |= r3
        *(u32 *)(r1 + 40) = r0
        exit
    """
    facts = {slot: QDISC for slot in range(8)}
    sch = _Sch()
    translated, _, views = _engines(text, facts)
    assert translated.run(views.address("Qdisc", sch)) == (7 << 8) | 101
    assert sch.limit == 101  # written in place
    assert sch.qlen == 7  # q.qlen is qdisclab's own count: the program's write is ignored
    assert ".limit = " in translated.source and "V.get" not in translated.source


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(lambda views, memory: 0, id="null"),
        pytest.param(
            lambda views, memory: memory.map(BytesRegion("bytes", bytearray(b"\x05" + bytes(47)))),
            id="bytes-not-a-struct",
        ),
        pytest.param(lambda views, memory: views.address("Qdisc", _Sch()) + 4, id="inside"),
    ],
)
def test_a_wrong_fact_gives_the_reference_result_or_fault(where: object) -> None:
    text = "r0 = *(u32 *)(r1 + 0)\n*(u32 *)(r1 + 0) = r0\nexit"
    got, expected, source = _both(text, {0: QDISC, 1: QDISC}, where)
    assert got == expected
    assert ".limit" in source  # the fast path was written, and not taken


def test_an_access_the_view_refuses_faults_as_without_facts() -> None:
    text = "r0 = 1\n*(u16 *)(r1 + 0) = r0\nexit"  # a partial write of sch->limit
    got, expected, _ = _both(text, {1: QDISC}, lambda views, memory: views.address("Qdisc", _Sch()))
    assert got == expected and "partial write" in str(got)


def test_a_byte_fact_reads_in_place_and_faults_past_the_end() -> None:
    text = "r0 = *(u32 *)(r1 + 4)\nexit"
    region = bytearray(b"\0\0\0\0\x2a\0\0\0")
    got, expected, source = _both(
        text, {0: Access(BYTES)}, lambda v, memory: memory.map(BytesRegion("value", region))
    )
    assert got == expected == 42 and "V.get" not in source
    got, expected, _ = _both(
        text, {0: Access(BYTES)}, lambda v, memory: memory.map(BytesRegion("short", bytearray(6)))
    )
    assert got == expected and "out-of-bounds read of 4 bytes at offset 4 of short" in str(got)


# sch->qstats.backlog += 5 (a counter qdisclab keeps: the store is ignored) and nothing
# reads the sum: only the reference path, for a pointer that is not the proven struct,
# still needs the load and the add.
_KEPT_UPDATE = """
    r2 = *(u32 *)(r1 + 48)
    r3 = 0
    r2 += 5
    *(u32 *)(r1 + 48) = r2
    r0 = *(u32 *)(r1 + 0)
    exit
"""
_KEPT_FACTS = {0: QDISC, 3: QDISC, 4: QDISC}


def test_a_kept_counters_update_nothing_reads_is_left_to_the_reference_path() -> None:
    sch = _Sch()
    translated, _, views = _engines(_KEPT_UPDATE, _KEPT_FACTS)
    assert translated.run(views.address("Qdisc", sch)) == 100 and sch.backlog == -1
    fast = [line for line in translated.source.splitlines() if "backlog" in line]
    assert fast == [], fast  # the field is not read at all on the proven path
    region = bytearray(52)
    region[48] = 7
    addr = translated.memory.map(BytesRegion("bytes", region))
    assert translated.run(addr) == 0 and region[48] == 12  # the reference path's write


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(lambda views, memory: 0, id="null"),
        pytest.param(
            lambda views, memory: memory.map(BytesRegion("short", bytearray(50))), id="oob"
        ),
    ],
)
def test_a_moved_update_faults_where_the_reference_faults(where: object) -> None:
    got, expected, _ = _both(_KEPT_UPDATE, _KEPT_FACTS, where)
    assert got == expected and "insn 0" in str(got)


def test_an_update_whose_value_is_read_again_stays_in_place() -> None:
    text = _KEPT_UPDATE.replace("r0 = *(u32 *)(r1 + 0)", "r0 = r2")
    translated, _, views = _engines(text, _KEPT_FACTS)
    sch = _Sch()
    sch.backlog = 9
    assert translated.run(views.address("Qdisc", sch)) == 14
    assert any(".backlog" in line for line in translated.source.splitlines())


# sch->qstats.backlog -= skb->len: the update is fed by a field of another object, which
# the verifier proved readable; the fast path needs neither load.
_FED_UPDATE = """
    r3 = *(u32 *)(r2 + 72)
    r4 = *(u32 *)(r1 + 48)
    r4 -= r3
    *(u32 *)(r1 + 48) = r4
    r0 = *(u32 *)(r1 + 0)
    exit
"""
_SKB = Access(STRUCT, "sk_buff", 0)
_FED_FACTS = {0: _SKB, 1: QDISC, 3: QDISC, 4: QDISC}


def test_a_load_of_another_object_feeding_only_a_kept_update_moves_with_it() -> None:
    sch, skb = _Sch(), SkBuff(20, 1, 2, 3, 4, IPPROTO_UDP, 0)
    translated, reference, views = _engines(_FED_UPDATE, _FED_FACTS)
    skb_addr = views.address("sk_buff", skb)
    assert translated.run(views.address("Qdisc", sch), skb_addr) == 100 and sch.backlog == -1
    assert "O_sk_buff" not in translated.source  # the skb is not even looked up
    for engine in (translated, reference):  # the reference path reads both, in order
        region = bytearray(52)
        region[48] = 50
        addr = engine.memory.map(BytesRegion("bytes", region))
        assert engine.run(addr, skb_addr) == 0 and region[48] == 30


def test_a_feeding_load_whose_pointer_changes_before_the_update_stays_in_place() -> None:
    text = _FED_UPDATE.replace("r4 -= r3", "r2 = 0\n    r4 -= r3")
    facts = {0: _SKB, 1: QDISC, 4: QDISC, 5: QDISC}
    translated, _, views = _engines(text, facts)
    skb = SkBuff(20, 1, 2, 3, 4, IPPROTO_UDP, 0)
    sch = _Sch()
    assert translated.run(views.address("Qdisc", sch), views.address("sk_buff", skb)) == 100
    assert "O_sk_buff" in translated.source  # read on the fast path, where it was


def _ctx_engine(text: str, facts: dict[int, Access], nargs: int) -> Translated:
    memory = Memory()
    proven = Proven(facts, ctx_bytes=True)
    return Translated(
        assemble(text),
        corpus_resolver(),
        memory,
        proven=proven,
        views=Views(memory),
        ctx_args=nargs,
    )


def test_a_callbacks_arguments_are_taken_as_they_are_when_only_loads_read_the_context() -> None:
    text = "r2 = *(u64 *)(r1 + 8)\nr0 = *(u64 *)(r1 + 0)\nr0 += r2\nexit"
    translated = _ctx_engine(text, {0: Access(CTX), 1: Access(CTX)}, 2)
    assert translated.run_ctx is not None
    args = bytearray(16)
    args[0], args[8] = 40, 2
    ctx = translated.memory.map(BytesRegion("struct_ops ctx", args))
    assert translated.run_ctx(ctx, 40, 2) == translated.run(ctx) == 42


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("r6 = r1\nr0 = *(u64 *)(r6 + 0)\nexit", id="copied"),
        pytest.param("r0 = *(u64 *)(r1 + 16)\nexit", id="past-the-arguments"),
        pytest.param("r0 = *(u32 *)(r1 + 0)\nexit", id="narrow"),
        pytest.param(
            "r0 = *(u64 *)(r1 + 0)\nif r0 == 0 goto +1\nr0 = *(u64 *)(r1 + 8)\nexit", id="live"
        ),
    ],
)
def test_a_context_used_otherwise_keeps_its_bytes(text: str) -> None:
    facts = {slot: Access(CTX) for slot in range(4)}
    assert _ctx_engine(text, facts, 2).run_ctx is None


class _Counted:
    """A Qdisc seen through a context, as a BPF qdisc's: ``qlen`` a property of another path."""

    class _Q:
        qlen = 5

    def __init__(self) -> None:
        self._q = self._Q()
        self.limit = 100

    @property
    def qlen(self) -> int:
        raise AssertionError("the property is not what translated code reads")


def test_a_read_through_path_is_read_in_place_of_the_attribute() -> None:
    text = """
        r0 = *(u32 *)(r1 + 40)
        r2 = *(u32 *)(r1 + 0)
        r0 += r2
        exit
    """
    facts = {slot: QDISC for slot in range(2)}
    memory = Memory()
    views = Views(memory)
    views.read_through("Qdisc", {"qlen": "_q.qlen"})
    translated = Translated(
        assemble(text), corpus_resolver(), memory, proven=Proven(facts, True), views=views
    )
    assert translated.run(views.address("Qdisc", _Counted())) == 105
    assert "._q.qlen & " in translated.source and ".limit & " in translated.source
    # Another struct's attribute of the same name is its own.
    assert views.read_path("sk_buff", "qlen") == "qlen"


def _wrapped(text: str, nargs: int) -> Translated:
    """``text`` as a callback of ``nargs`` arguments ``a, b``, its return ``[R0, frame bytes]``."""
    memory = Memory()
    names = ", ".join("ab"[:nargs])
    wrap = CallbackWrap(
        names, [], list("ab"[:nargs]), lambda v: [f"return [{v}, bytes(stk0)]"], "{fault}", {}
    )
    facts = {slot: Access(CTX) for slot in range(nargs)}
    return Translated(
        assemble(text), corpus_resolver(), memory, proven=Proven(facts, ctx_bytes=True),
        views=Views(memory), ctx_args=nargs, wrap=wrap,
    )  # fmt: skip


def test_a_callbacks_stack_slots_are_locals_when_no_frame_pointer_escapes() -> None:
    text = """
        r2 = *(u64 *)(r1 + 0)
        r3 = *(u64 *)(r1 + 8)
        *(u32 *)(r10 - 4) = r2
        *(u64 *)(r10 - 16) = r3
        r0 = *(u32 *)(r10 - 4)
        r4 = *(u64 *)(r10 - 16)
        r0 += r4
        exit
    """
    translated = _wrapped(text, 2)
    assert translated.callback is not None and translated.run_ctx is None
    value, frame = translated.callback(0x1_0000_0029, 1)
    assert value == 0x2A  # the u32 slot kept the low half only, as the frame's bytes would
    assert frame == bytes(len(frame))  # held in locals: the bytes were never written
    assert "sl508 = " in translated.source and "sl496" in translated.source


@pytest.mark.parametrize(
    ("escape", "expected"),
    [
        pytest.param(
            "r5 = r10\nr5 += -4\nr0 = *(u32 *)(r5 + 0)", 0x0102_0304, id="a-pointer-into-the-frame"
        ),
        pytest.param("r0 = *(u16 *)(r10 - 4)", 0x0304, id="a-narrower-read"),
        pytest.param("r0 = *(u16 *)(r10 - 2)", 0x0102, id="overlapping"),
    ],
)
def test_a_callbacks_stack_stays_bytes_when_its_slots_are_not_plain(
    escape: str, expected: int
) -> None:
    text = f"r2 = *(u64 *)(r1 + 0)\n*(u32 *)(r10 - 4) = r2\n{escape}\nexit"
    translated = _wrapped(text, 1)
    assert translated.callback is not None
    value, frame = translated.callback(0x0102_0304)
    assert value == expected
    assert frame[-4:] == bytes.fromhex("04030201")  # the store went to the frame's bytes
    assert "sl508" not in translated.source
