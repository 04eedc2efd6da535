"""The verifier's input comes from the one place each fact is declared.

Kfunc flags and allow-lists from the declared kfunc table, argument types
from the object's BTF prototype (with the kernel's ``__ref``/``__nullable``
suffixes), attach points from the kernel-type model, maps and graph roots
from the object reader.
"""

from __future__ import annotations

import pytest
from bpf_corpus import OBJECTS, obj

from qdisclab.bpf.btf import (
    BTF_KIND_FUNC,
    BTF_KIND_FUNC_PROTO,
    BTF_KIND_INT,
    BTF_KIND_PTR,
    BTF_KIND_STRUCT,
    Btf,
)
from qdisclab.bpf.btf_build import build_btf
from qdisclab.bpf.helper_ids import helper_name
from qdisclab.bpf.objects import load_object
from qdisclab.bpf.verifier.adapter import _from_table, program_code, program_proto, targets
from qdisclab.bpf.verifier.builtin import BASE_HELPERS, GRAPH_KFUNCS, PROGRAM_HELPERS
from qdisclab.bpf.verifier.proto import ArgKind, CtxKind, RetKind
from qdisclab.ops import lookup


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.stem)
def test_kfunc_flags_and_allow_lists_are_the_declared_tables(path):
    o = load_object(path)
    for target in targets(o):
        proto = program_proto(o, target)
        for name, fn in proto.kfuncs.items():
            if name in GRAPH_KFUNCS:
                assert fn is GRAPH_KFUNCS[name]
                continue
            declared = lookup(name, target.interface)
            assert (fn.flags, fn.allowed) == (declared.flags, declared.allowed)
            assert fn.allows(target.member) == declared.allows(target.member)


def test_argument_kinds_follow_the_btf_prototype_and_its_suffixes():
    btf = Btf.parse(
        build_btf(
            [
                (BTF_KIND_INT, "u32", 4, 0, (0, 0, 32)),
                (BTF_KIND_STRUCT, "sk_buff", 8, 0, ()),
                (BTF_KIND_PTR, "", 2, 0, ()),
                (BTF_KIND_FUNC_PROTO, "", 0, 0, (("skb__ref", 3), ("peer__nullable", 3), ("n", 1))),
                (BTF_KIND_FUNC, "bpf_kfree_skb", 4, 1, ()),
            ]
        )
    )
    fn = _from_table(lookup("bpf_kfree_skb", "Qdisc_ops"), btf, 5)
    skb, peer, n = fn.args
    assert (skb.kind, skb.btf, skb.ref, skb.nullable) == (ArgKind.BTF_PTR, "sk_buff", True, False)
    assert (peer.ref, peer.nullable) == (False, True)
    assert n.kind == ArgKind.SCALAR and fn.ret == RetKind.VOID


def test_enqueue_context_owns_its_skb_and_returns_net_xmit():
    o = load_object(obj("fifo"))
    enqueue = next(t for t in targets(o) if t.member == "enqueue")
    proto = program_proto(o, enqueue)
    skb, sch, to_free = proto.ctx
    assert (skb.kind, skb.btf, skb.ref) == (CtxKind.BTF_PTR, "sk_buff", True)
    assert not sch.ref and to_free.btf == "bpf_sk_buff_ptr"
    assert proto.ret_range == (0, 2)
    dequeue = program_proto(o, next(t for t in targets(o) if t.member == "dequeue"))
    assert dequeue.ret_btf == "sk_buff" and not dequeue.ctx[0].ref
    reset = program_proto(o, next(t for t in targets(o) if t.member == "reset"))
    assert reset.void_return


def test_graph_roots_name_their_node_member_and_globals_keep_the_addend():
    o = load_object(obj("fq"))
    proto = program_proto(o, targets(o)[0])
    roots = {s.offset: s for s in proto.maps[".data.fq_lists"].specials if s.kind == "list_head"}
    fq_link = next(t for t in proto.local_types.values() if t.name == "fq_link")
    node = next(s for s in fq_link.specials if s.kind == "list_node")
    assert roots[8].btf == roots[24].btf == "fq_link" and roots[8].node == node.offset
    assert proto.maps["fq_flows"].value_size == o.maps["fq_flows"].value_size
    code = program_code(targets(o)[0].program)
    for rel in targets(o)[0].program.relocations:
        if rel.kind == "data":  # the offset inside the section, in the ld_imm64's second half
            at = (rel.slot + 1) * 8 + 4
            assert int.from_bytes(code.insns[at : at + 4], "little", signed=True) == rel.addend


def test_a_congestion_control_sees_a_tcp_sock():
    o = load_object(obj("dctcp"))
    proto = program_proto(o, targets(o)[0])
    assert proto.ctx[0].btf == "tcp_sock"
    assert proto.structs["tcp_sock"].is_a("sock")
    assert proto.kfuncs["tcp_reno_cong_avoid"].args[0].btf == "sock"


def test_helper_prototypes_are_keyed_by_the_uapi_ids():
    tables = [BASE_HELPERS, *PROGRAM_HELPERS.values()]
    assert all(fn.name == helper_name(i) for table in tables for i, fn in table.items())
