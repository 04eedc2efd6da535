"""Prototypes of the kernel's generic helpers and kfuncs, as the verifier checks them.

These are fixed by the kernel, not by qdisclab's ops tables: the base
helpers every struct_ops and tc program may call (``bpf_base_func_proto``:
map access, time, random numbers, ``bpf_loop``, ``bpf_spin_lock``,
``bpf_kptr_xchg``), keyed by helper id, and the object and graph kfuncs
(``bpf_obj_new``/``drop``, ``bpf_list_*``, ``bpf_rbtree_*`` with the
walkers ``root``/``left``/``right``, whose results are non-owning like
``first``'s). The
attach-point kfuncs (the qdisc ones, say) come from the declared kfunc table.
``PROGRAM_HELPERS`` adds the helpers of a program type (a tc program's
``bpf_skb_load_bytes`` into a stack buffer, ``bpf_get_hash_recalc``); ``UNSUPPORTED`` names the kernel features qdisclab
runs but the verifier does not model, which it refuses with a line saying so
rather than guess.

>>> BASE_HELPERS[1].name, BASE_HELPERS[1].ret.value
('bpf_map_lookup_elem', 'map_value_or_null')
>>> GRAPH_KFUNCS["bpf_iter_num_next"].ret.value
'iter_next'
"""

from __future__ import annotations

from qdisclab.bpf.verifier.proto import (
    KF_ACQUIRE,
    KF_RELEASE,
    KF_RET_NULL,
    Arg,
    ArgKind,
    FuncProto,
    RetKind,
)

_MAP = Arg(ArgKind.CONST_MAP)
_SCALAR = Arg(ArgKind.SCALAR)
_ANY = Arg(ArgKind.ANYTHING)
_ROOT = Arg(ArgKind.GRAPH_ROOT)
_NODE = Arg(ArgKind.GRAPH_NODE, release=True)

BASE_HELPERS: dict[int, FuncProto] = {
    1: FuncProto("bpf_map_lookup_elem", (_MAP, Arg(ArgKind.MAP_KEY)), RetKind.MAP_VALUE_OR_NULL),
    2: FuncProto(
        "bpf_map_update_elem", (_MAP, Arg(ArgKind.MAP_KEY), Arg(ArgKind.MAP_VALUE), _SCALAR)
    ),
    3: FuncProto("bpf_map_delete_elem", (_MAP, Arg(ArgKind.MAP_KEY))),
    5: FuncProto("bpf_ktime_get_ns"),
    7: FuncProto("bpf_get_prandom_u32", ret_range=(0, 0xFFFF_FFFF)),
    93: FuncProto("bpf_spin_lock", (Arg(ArgKind.SPIN_LOCK),), RetKind.VOID, lock="acquire"),
    94: FuncProto("bpf_spin_unlock", (Arg(ArgKind.SPIN_LOCK),), RetKind.VOID, lock="release"),
    118: FuncProto("bpf_jiffies64"),
    181: FuncProto(
        "bpf_loop",
        (_SCALAR, Arg(ArgKind.CALLBACK), _ANY, _SCALAR),
        callback_ctx_arg=2,
        callback_args=(_SCALAR, _ANY),
        callback_ret=(0, 1),
    ),
    194: FuncProto(
        "bpf_kptr_xchg",
        (Arg(ArgKind.KPTR_SLOT), Arg(ArgKind.BTF_PTR, nullable=True, release=True)),
        RetKind.KPTR_OLD,
    ),
}

GRAPH_KFUNCS: dict[str, FuncProto] = {
    f.name: f
    for f in (
        FuncProto(
            "bpf_obj_new_impl",
            (Arg(ArgKind.TYPE_ID), _ANY),
            RetKind.ALLOC_OBJ,
            flags=KF_ACQUIRE | KF_RET_NULL,
        ),
        FuncProto(
            "bpf_iter_num_new",
            (Arg(ArgKind.ITER_NEW, "num"), _SCALAR, _SCALAR),
            ret_range=(-0x7FFF_FFFF - 1, 0x7FFF_FFFF),
        ),
        FuncProto("bpf_iter_num_next", (Arg(ArgKind.ITER, "num"),), RetKind.ITER_NEXT, ret_size=4),
        FuncProto("bpf_iter_num_destroy", (Arg(ArgKind.ITER, "num", release=True),), RetKind.VOID),
        FuncProto(
            "bpf_obj_drop_impl", (Arg(ArgKind.ALLOC_OBJ), _ANY), RetKind.VOID, flags=KF_RELEASE
        ),
        FuncProto("bpf_list_push_front_impl", (_ROOT, _NODE, _ANY, _SCALAR), lock="held"),
        FuncProto("bpf_list_push_back_impl", (_ROOT, _NODE, _ANY, _SCALAR), lock="held"),
        FuncProto("bpf_list_pop_front", (_ROOT,), RetKind.GRAPH_NODE_OR_NULL, lock="held"),
        FuncProto("bpf_list_pop_back", (_ROOT,), RetKind.GRAPH_NODE_OR_NULL, lock="held"),
        FuncProto("bpf_list_front", (_ROOT,), RetKind.GRAPH_NODE_NONOWNING, lock="held"),
        FuncProto("bpf_list_back", (_ROOT,), RetKind.GRAPH_NODE_NONOWNING, lock="held"),
        FuncProto(
            "bpf_rbtree_add_impl",
            (_ROOT, _NODE, Arg(ArgKind.CALLBACK), _ANY, _SCALAR),
            lock="held",
            callback_ctx_arg=1,
            callback_args=(Arg(ArgKind.GRAPH_NODE), Arg(ArgKind.GRAPH_NODE)),
        ),
        FuncProto(
            "bpf_rbtree_remove",
            (_ROOT, Arg(ArgKind.GRAPH_NODE)),
            RetKind.GRAPH_NODE_OR_NULL,
            lock="held",
        ),
        FuncProto("bpf_rbtree_first", (_ROOT,), RetKind.GRAPH_NODE_NONOWNING, lock="held"),
        FuncProto("bpf_rbtree_root", (_ROOT,), RetKind.GRAPH_NODE_NONOWNING, lock="held"),
        FuncProto(
            "bpf_rbtree_left",
            (_ROOT, Arg(ArgKind.GRAPH_NODE)),
            RetKind.GRAPH_NODE_NONOWNING,
            lock="held",
        ),
        FuncProto(
            "bpf_rbtree_right",
            (_ROOT, Arg(ArgKind.GRAPH_NODE)),
            RetKind.GRAPH_NODE_NONOWNING,
            lock="held",
        ),
    )
}

_SIZE = Arg(ArgKind.MEM_SIZE)
_TC_HELPERS = {
    9: FuncProto(
        "bpf_skb_store_bytes",
        (Arg(ArgKind.CTX), _SCALAR, Arg(ArgKind.MEM_READ), _SIZE, _SCALAR),
        ret_range=(-4095, 0),
    ),
    26: FuncProto(
        "bpf_skb_load_bytes",
        (Arg(ArgKind.CTX), _SCALAR, Arg(ArgKind.MEM_WRITE), _SIZE),
        ret_range=(-4095, 0),
    ),
    34: FuncProto("bpf_get_hash_recalc", (Arg(ArgKind.CTX),), ret_range=(0, 0xFFFF_FFFF)),
    97: FuncProto("bpf_skb_ecn_set_ce", (Arg(ArgKind.CTX),), ret_range=(0, 1)),
}
PROGRAM_HELPERS: dict[str, dict[int, FuncProto]] = {
    "tc": _TC_HELPERS,
    "tcx": _TC_HELPERS,
    "netkit": _TC_HELPERS,
}

UNSUPPORTED: dict[str, str] = {
    "bpf_dynptr_from_skb": "dynptrs",
    "bpf_dynptr_read": "dynptrs",
    "bpf_refcount_acquire_impl": "shared (refcounted) objects",
    "bpf_for_each_map_elem": "map iteration callbacks",
    "bpf_list_empty": "list emptiness tests",
}
"""Functions qdisclab implements but the verifier does not model, with what they belong to."""
