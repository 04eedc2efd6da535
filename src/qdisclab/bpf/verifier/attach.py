"""Attach points as the verifier sees them, derived from qdisclab's kernel-type model.

A struct_ops program's context is the array of its member's arguments,
read from the member's C prototype in :data:`~qdisclab.bpf.kernel_types.KERNEL_TYPES`
(``Qdisc_ops.enqueue`` takes ``struct sk_buff *skb, struct Qdisc *sch,
struct bpf_sk_buff_ptr *to_free``); a tc/tcx/netkit program's context is
``struct __sk_buff`` with its modelled fields, ``data``/``data_end`` the
packet pointers. What the kernel adds beyond the prototype lives here, once:

* the referenced argument (the kernel's ``__ref`` suffix on the CFI stub's
  parameter): a BPF qdisc's enqueue owns its ``sk_buff``;
* the return range of each member: ``NET_XMIT_*`` for ``enqueue`` (and
  for ``bpf_qdisc_enqueue``, which returns the child's verdict), a
  referenced ``sk_buff`` or NULL for ``dequeue``, ``TCX_*`` for tcx and
  netkit, ``TC_ACT_*`` for tc;
* a congestion control's ``struct sock *`` is the ``tcp_sock`` it is, as
  ``bpf_tcp_ca_is_valid_access`` retypes it.

>>> ctx, ret = struct_ops_context("Qdisc_ops", "enqueue")
>>> [(f.name, f.btf, f.ref) for f in ctx]
[('skb', 'sk_buff', True), ('sch', 'Qdisc', False), ('to_free', 'bpf_sk_buff_ptr', False)]
>>> ret.ret_range
(0, 2)
>>> STRUCTS["tcp_sock"].is_a("sock"), STRUCTS["sock"].field_at(0, 4).name
(True, '__sk_common.skc_daddr')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qdisclab.bpf.kernel_types import KERNEL_TYPES, KStruct
from qdisclab.bpf.verifier.proto import CtxField, CtxKind, FieldProto, StructProto
from qdisclab.sched.constants import NET_XMIT_CN, NET_XMIT_SUCCESS
from qdisclab.tcx import constants as tcx

# An argument of this struct type is handed to the member as an owned reference (``__ref``).
REFERENCED_ARGS = {("Qdisc_ops", "enqueue"): frozenset({"sk_buff"})}
# struct_ops arguments the kernel retypes (bpf_tcp_ca_is_valid_access: sock -> tcp_sock).
RETYPED_ARGS = {"tcp_congestion_ops": {"sock": "tcp_sock"}}
MEMBER_RETURNS: dict[tuple[str, str], tuple[int, int]] = {
    ("Qdisc_ops", "enqueue"): (NET_XMIT_SUCCESS, NET_XMIT_CN),
}
# Kfuncs whose result is a member's return code (a child qdisc's enqueue verdict).
KFUNC_RETURNS: dict[str, tuple[int, int]] = {
    "bpf_qdisc_enqueue": MEMBER_RETURNS[("Qdisc_ops", "enqueue")],
}
_TCX = (min(tcx.TCX_NEXT, tcx.TCX_PASS), max(tcx.TCX_DROP, tcx.TCX_REDIRECT))
PROGRAM_RETURNS: dict[str, tuple[int, int]] = {
    "tcx": _TCX,
    "netkit": _TCX,
    "tc": (tcx.TC_ACT_UNSPEC, tcx.TC_ACT_TRAP),
}


@dataclass(frozen=True)
class Returns:
    """What a program may return: a scalar range, a struct pointer it owns, or nothing."""

    ret_range: tuple[int, int] | None = None
    ret_btf: str | None = None
    void: bool = False


def _flatten(st: KStruct, base: int = 0, prefix: str = "") -> list[FieldProto]:
    out: list[FieldProto] = []
    for f in st.fields:
        name = prefix + f.name
        inner = f.struct
        if inner is not None:
            out += _flatten(KERNEL_TYPES[inner], base + f.offset, name + ".")
        elif f.attr is not None and not f.is_function:
            out.append(FieldProto(name, base + f.offset, f.size, f.writable, f.pointee))
    return out


def _embeds(st: KStruct) -> tuple[str, ...]:
    chain: list[str] = []
    while st.fields and st.fields[0].offset == 0 and st.fields[0].struct is not None:
        st = KERNEL_TYPES[st.fields[0].struct]
        chain.append(st.name)
    return tuple(chain)


STRUCTS: dict[str, StructProto] = {
    name: StructProto(name, st.size, tuple(_flatten(st)), _embeds(st))
    for name, st in KERNEL_TYPES.items()
    if st.views != "struct_ops"
}
"""Every modelled kernel struct, its fields flattened (``q.qlen``), unmodelled ones left out."""

_PARAM = re.compile(r"^(?:const )?(?:struct (\w+) \*|(.+?))\s*(\w+)$")


def member_prototype(interface: str, member: str) -> tuple[str, list[tuple[str, str | None]]]:
    """``(return type, [(param name, struct pointee or None)])`` of an ops member."""
    ops = KERNEL_TYPES.get(interface)
    field = ops.field(member) if ops is not None else None
    if field is None or not field.is_function:
        raise KeyError(f"{interface} has no member {member!r} in qdisclab's model")
    ret, _, params = field.decl.partition("(*{})")
    out = []
    for text in params.strip("()").split(","):
        m = _PARAM.match(text.strip())
        if m is None or text.strip() == "void":
            continue
        out.append((m.group(3), m.group(1)))
    return ret.strip(), out


def struct_ops_context(interface: str, member: str) -> tuple[tuple[CtxField, ...], Returns]:
    """The context slots and return rule of ``interface.member`` (see the module docstring)."""
    ret, params = member_prototype(interface, member)
    referenced = REFERENCED_ARGS.get((interface, member), frozenset())
    retype = RETYPED_ARGS.get(interface, {})
    ctx = []
    for i, (name, pointee) in enumerate(params):
        if pointee is None:
            ctx.append(CtxField(name, 8 * i, 8))
            continue
        btf = retype.get(pointee, pointee)
        ctx.append(CtxField(name, 8 * i, 8, CtxKind.BTF_PTR, btf, ref=pointee in referenced))
    m = re.fullmatch(r"(?:const )?struct (\w+) \*", ret)
    if m is not None:
        returns = Returns(ret_btf=m.group(1))
    elif ret == "void":
        returns = Returns(void=True)
    else:
        returns = Returns(MEMBER_RETURNS.get((interface, member)))
    return tuple(ctx), returns


def skb_context() -> tuple[CtxField, ...]:
    """``struct __sk_buff`` as a tc/tcx/netkit context: its modelled fields."""
    out = []
    for f in KERNEL_TYPES["__sk_buff"].fields:
        if f.attr is None:
            continue
        kind = {"@data": CtxKind.PACKET, "@data_end": CtxKind.PACKET_END}.get(
            f.attr, CtxKind.SCALAR
        )
        out.append(CtxField(f.name, f.offset, f.size, kind, writable=f.writable))
    return tuple(out)
