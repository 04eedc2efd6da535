"""Attach points for the verifier tests: a qdisc's enqueue/dequeue/reset and a tcx program.

The struct layouts and qdisc kfuncs here are test fixtures in the shape the
declared kfunc table and kernel-type model will supply; the generic helpers
and graph kfuncs are the verifier's own (:mod:`qdisclab.bpf.verifier.builtin`).
"""

from __future__ import annotations

import pytest

from qdisclab.bpf.asm import assemble
from qdisclab.bpf.verifier import VerificationError, verify
from qdisclab.bpf.verifier.builtin import BASE_HELPERS, GRAPH_KFUNCS, PROGRAM_HELPERS
from qdisclab.bpf.verifier.proto import (
    KF_RELEASE,
    KF_TRUSTED_ARGS,
    Arg,
    ArgKind,
    CtxField,
    CtxKind,
    FieldProto,
    FuncProto,
    LocalType,
    MapProto,
    ProgramProto,
    RetKind,
    Special,
    StructProto,
)

SK_BUFF = StructProto(
    "sk_buff",
    232,
    (
        FieldProto("sk", 16, 8, pointee="sock"),
        FieldProto("tstamp", 24, 8, writable=True),
        FieldProto("cb_pkt_len", 40, 4),
        FieldProto("cb_data", 48, 20, writable=True),
        FieldProto("len", 112, 4),
        FieldProto("mark", 168, 4),
        FieldProto("hash", 176, 4),
    ),
)
QDISC = StructProto(
    "Qdisc",
    384,
    (
        FieldProto("next_sched", 8, 8, pointee="Qdisc"),
        FieldProto("flags", 16, 4),
        FieldProto("limit", 32, 4, writable=True),
        FieldProto("q_qlen", 48, 4, writable=True),
        FieldProto("backlog", 56, 4, writable=True),
        FieldProto("drops", 60, 4, writable=True),
    ),
)
STRUCTS = {s.name: s for s in (SK_BUFF, QDISC)}

_SKB = Arg(ArgKind.BTF_PTR, "sk_buff")
_SCH = Arg(ArgKind.BTF_PTR, "Qdisc")
QDISC_KFUNCS = {
    f.name: f
    for f in (
        FuncProto(
            "bpf_qdisc_skb_drop",
            (_SKB, Arg(ArgKind.BTF_PTR, "bpf_sk_buff_ptr")),
            RetKind.VOID,
            flags=KF_RELEASE,
            allowed=frozenset({"enqueue"}),
        ),
        FuncProto("bpf_kfree_skb", (_SKB,), RetKind.VOID, flags=KF_RELEASE),
        FuncProto("bpf_skb_get_hash", (_SKB,), flags=KF_TRUSTED_ARGS, ret_range=(0, 0xFFFF_FFFF)),
        FuncProto(
            "bpf_qdisc_watchdog_schedule",
            (_SCH, Arg(ArgKind.SCALAR), Arg(ArgKind.SCALAR)),
            RetKind.VOID,
            flags=KF_TRUSTED_ARGS,
            allowed=frozenset({"enqueue", "dequeue"}),
        ),
        FuncProto(
            "bpf_qdisc_bstats_update",
            (_SCH, _SKB),
            RetKind.VOID,
            flags=KF_TRUSTED_ARGS,
            allowed=frozenset({"dequeue"}),
        ),
        *GRAPH_KFUNCS.values(),
    )
}

NODE_TYPE_ID = 7
SKB_NODE = LocalType(
    "skb_node", 24, (Special("kptr", 0, 8, "sk_buff"), Special("list_node", 8, 16))
)
GLOBAL_DATA = MapProto(
    ".data.A", 4, 24, 1, (Special("spin_lock", 0, 4), Special("list_head", 8, 16, "skb_node"))
)
FLOW_TYPE_ID = 8
FLOW = LocalType("flow", 40, (Special("rb_node", 0, 24), Special("kptr", 32, 8, "sk_buff")))
RB_DATA = MapProto(
    ".data.R", 4, 24, 1, (Special("spin_lock", 0, 4), Special("rb_root", 8, 16, "flow"))
)
COUNTS = MapProto("counts", 4, 16, 64)
STASH = MapProto("stash", 4, 16, 64, (Special("kptr", 8, 8, "sk_buff"),))
MAPS = {m.name: m for m in (GLOBAL_DATA, RB_DATA, COUNTS, STASH)}

_QDISC_COMMON = dict(
    structs=STRUCTS,
    kfuncs=QDISC_KFUNCS,
    helpers=BASE_HELPERS,
    maps=MAPS,
    local_types={NODE_TYPE_ID: SKB_NODE, FLOW_TYPE_ID: FLOW},
)
ENQUEUE = ProgramProto(
    "Qdisc_ops",
    "enqueue",
    ctx=(
        CtxField("skb", 0, 8, CtxKind.BTF_PTR, "sk_buff", ref=True),
        CtxField("sch", 8, 8, CtxKind.BTF_PTR, "Qdisc"),
        CtxField("to_free", 16, 8, CtxKind.BTF_PTR, "bpf_sk_buff_ptr"),
    ),
    ret_range=(0, 2),  # NET_XMIT_SUCCESS, NET_XMIT_DROP, NET_XMIT_CN
    **_QDISC_COMMON,
)
DEQUEUE = ProgramProto(
    "Qdisc_ops",
    "dequeue",
    ctx=(CtxField("sch", 0, 8, CtxKind.BTF_PTR, "Qdisc"),),
    ret_btf="sk_buff",
    **_QDISC_COMMON,
)
RESET = ProgramProto(
    "Qdisc_ops",
    "reset",
    ctx=(CtxField("sch", 0, 8, CtxKind.BTF_PTR, "Qdisc"),),
    **_QDISC_COMMON,
)
TCX = ProgramProto(
    "tcx",
    "ingress",
    ctx=(
        CtxField("len", 0, 4),
        CtxField("mark", 8, 4, writable=True),
        CtxField("priority", 32, 4, writable=True),
        CtxField("data", 76, 4, CtxKind.PACKET),
        CtxField("data_end", 80, 4, CtxKind.PACKET_END),
    ),
    ret_range=(-1, 7),  # TCX_NEXT .. TCX_REDIRECT
    helpers={**BASE_HELPERS, **PROGRAM_HELPERS["tcx"]},
    maps=MAPS,
)


def accepts(text: str, proto: ProgramProto, name: str = "prog"):
    """Verify assembly ``text``; the test fails with the verifier's report if it is refused."""
    try:
        return verify(assemble(text, name=name), proto)
    except VerificationError as err:
        pytest.fail(f"refused:\n{err.report()}")


def rejects(text: str, proto: ProgramProto, rule: str, message: str, name: str = "prog"):
    """Verify ``text`` expecting refusal for ``rule`` with ``message`` in the summary line."""
    with pytest.raises(VerificationError) as info:
        verify(assemble(text, name=name), proto)
    err = info.value
    assert err.rule == rule, err.report()
    assert message in err.message, err.report()
    return err
