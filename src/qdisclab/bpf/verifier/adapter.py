"""From a loaded object to the verifier's input: bytecode, symbols, and the attach point's world.

:func:`targets` lists what an object asks to load: each struct_ops member
with the program it points to (``Qdisc_ops.enqueue`` → ``fifo_enqueue``),
each tc/tcx/netkit program at its hook. :func:`program_code` gives a
program's :class:`~qdisclab.bpf.code.Code` as the engines read it (a
global's offset, which the object reader keeps in the relocation's addend,
put into the ``ld_imm64``'s second immediate as libbpf does; each relocated
slot named), with source lines from BTF line info in the kernel log's
``<source text> @ file.c:LINE``. :func:`program_proto` fills the
:class:`~qdisclab.bpf.verifier.proto.ProgramProto` from the one place each
fact is declared:

* kfuncs: flags and allow-lists from the declared kfunc table
  (:func:`qdisclab.ops.lookup`), argument and return types from the
  object's own BTF prototype of the extern (a parameter named ``x__ref``
  must carry a reference, ``x__nullable`` may be NULL, as in the kernel's
  prototypes); the object and graph kfuncs
  the kernel defines from :mod:`~qdisclab.bpf.verifier.builtin`;
* helpers: :data:`~qdisclab.bpf.verifier.builtin.BASE_HELPERS` by id, or
  a helper the interface declares in the kfunc table (by its kernel name);
* context and return rule: :mod:`~qdisclab.bpf.verifier.attach`, from the
  kernel-type model;
* maps, global data sections (with their locks, graph roots and
  ``__contains`` node offsets) and local types for ``bpf_obj_new``: from
  the object reader.

>>> from qdisclab.bpf.objects import load_object
>>> obj = load_object("examples/bpf/fifo.bpf.o")
>>> [(t.interface, t.member, t.program.name) for t in targets(obj)][:2]
[('Qdisc_ops', 'enqueue', 'fifo_enqueue'), ('Qdisc_ops', 'dequeue', 'fifo_dequeue')]
>>> proto = program_proto(obj, targets(obj)[0])
>>> proto.kfuncs["bpf_qdisc_skb_drop"].allowed, proto.ret_range
(frozenset({'enqueue'}), (0, 2))
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from qdisclab.bpf.btf import BTF_KIND_FUNC_PROTO, BTF_KIND_PTR, BTF_KIND_STRUCT, Btf
from qdisclab.bpf.code import Code
from qdisclab.bpf.elf import program_type
from qdisclab.bpf.kernel_types import KERNEL_TYPES
from qdisclab.bpf.objects import BpfObject
from qdisclab.bpf.program import BpfProgram
from qdisclab.bpf.runner import code_for
from qdisclab.bpf.special_fields import SpecialField, special_fields
from qdisclab.bpf.verifier.attach import (
    KFUNC_RETURNS,
    PROGRAM_RETURNS,
    STRUCTS,
    skb_context,
    struct_ops_context,
)
from qdisclab.bpf.verifier.builtin import (
    BASE_HELPERS,
    GRAPH_KFUNCS,
    PROGRAM_HELPERS,
    UNSUPPORTED,
)
from qdisclab.bpf.verifier.mem import SPECIAL_NAMES
from qdisclab.bpf.verifier.proto import (
    Arg,
    ArgKind,
    FuncProto,
    LocalType,
    MapProto,
    ProgramProto,
    RetKind,
    Special,
)
from qdisclab.ops.kfunc import Kfunc, lookup


@dataclass(frozen=True)
class Target:
    """One program as it loads: at ``interface.member`` (struct_ops) or a hook (``tcx.ingress``)."""

    program: BpfProgram
    interface: str
    member: str

    @property
    def name(self) -> str:
        return f"{self.program.name} ({self.interface}.{self.member})"


def targets(obj: BpfObject) -> list[Target]:
    """Every program the object loads, at its attach point (struct_ops members in map order)."""
    out = []
    for ops in obj.struct_ops.values():
        for member, prog in ops.programs.items():
            out.append(Target(obj.programs[prog], ops.struct, member))
    for prog in obj.programs.values():
        kind = program_type(prog.section)
        if kind is not None and kind[0] != "struct_ops":
            out.append(Target(prog, kind[0], kind[1]))
    return out


def program_code(program: BpfProgram) -> Code:
    """``program`` as the engines read it (:func:`~qdisclab.bpf.runner.code_for`), its source
    lines in the kernel log's ``<source text> @ file.c:LINE``."""

    def source_line(slot: int) -> str | None:
        where = program.source_line(slot)
        if where is None:
            return None
        path, line, text = where
        return f"{text.strip()} @ {os.path.basename(path)}:{line}"

    return dataclasses.replace(
        code_for(program), source_line=source_line if program.line_info else None
    )


def program_proto(obj: BpfObject, target: Target) -> ProgramProto:
    """The verifier's view of ``target``'s attach point and environment (module docstring)."""
    interface, member = target.interface, target.member
    if interface in PROGRAM_RETURNS:
        ctx, ret_range, ret_btf, void = skb_context(), PROGRAM_RETURNS[interface], None, False
    else:
        ctx, returns = struct_ops_context(interface, member)
        ret_range, ret_btf, void = returns.ret_range, returns.ret_btf, returns.void
    helpers = dict(BASE_HELPERS)
    helpers.update(PROGRAM_HELPERS.get(interface, {}))
    for rel in target.program.relocations:
        if rel.kind == "helper" and rel.addend not in helpers:
            declared = _declared(rel.symbol, interface)
            if declared is not None:
                helpers[rel.addend] = _from_table(declared, obj.btf, 0)
    return ProgramProto(
        interface,
        member,
        ctx=ctx,
        ret_range=ret_range,
        ret_btf=ret_btf,
        void_return=void,
        structs=STRUCTS,
        kfuncs=_kfuncs(obj, interface),
        helpers=helpers,
        maps=_maps(obj),
        local_types=_local_types(obj.btf),
        sleepable=target.program.section.startswith("struct_ops.s/"),
    )


def _declared(name: str, interface: str) -> Kfunc | None:
    try:
        return lookup(name, interface)
    except KeyError:
        return None


def _kfuncs(obj: BpfObject, interface: str) -> dict[str, FuncProto]:
    out: dict[str, FuncProto] = {}
    for extern in obj.externs:
        if extern.kind != "kfunc":
            continue
        if extern.name in UNSUPPORTED:  # refused where called, whoever declares it
            continue
        if extern.name in GRAPH_KFUNCS:
            out[extern.name] = GRAPH_KFUNCS[extern.name]
            continue
        declared = _declared(extern.name, interface)
        if declared is not None:
            out[extern.name] = _from_table(declared, obj.btf, extern.type_id)
    return out


def _from_table(kf: Kfunc, btf: Btf | None, type_id: int) -> FuncProto:
    """A declared kfunc's prototype: flags and allow-list from the table, types from BTF."""
    args: tuple[Arg, ...] = ()
    ret, ret_btf = RetKind.SCALAR, None
    if btf is not None and type_id:
        proto = btf[btf[type_id].ref]
        if proto.kind == BTF_KIND_FUNC_PROTO:
            args = tuple(_arg(btf, p.type_id, p.name) for p in proto.params)
            ret, ret_btf = _ret(btf, proto.ref)
    ret_range = KFUNC_RETURNS.get(kf.name)
    return FuncProto(
        kf.name, args, ret, ret_btf, flags=kf.flags, allowed=kf.allowed, ret_range=ret_range
    )


def _pointee(btf: Btf, type_id: int) -> str | None:
    """The struct a pointer type points to ("" for ``void *``), or None for a non-pointer."""
    if not type_id:
        return None
    t = btf.skip_modifiers(type_id)
    if t.kind != BTF_KIND_PTR:
        return None
    target = btf.skip_modifiers(t.ref) if t.ref else None
    return target.name if target is not None and target.kind == BTF_KIND_STRUCT else ""


def _arg(btf: Btf, type_id: int, name: str = "") -> Arg:
    """One parameter; the kernel's name suffixes ``__ref``/``__nullable`` say what it takes."""
    pointee = _pointee(btf, type_id)
    if pointee is None:
        return Arg(ArgKind.SCALAR)
    if not pointee:
        return Arg(ArgKind.ANYTHING)
    return Arg(
        ArgKind.BTF_PTR, pointee, ref=name.endswith("__ref"), nullable=name.endswith("__nullable")
    )


def _ret(btf: Btf, type_id: int) -> tuple[RetKind, str | None]:
    if not type_id:
        return RetKind.VOID, None
    pointee = _pointee(btf, type_id)
    if pointee:
        return RetKind.BTF_PTR, pointee
    return RetKind.SCALAR, None


def _special(btf: Btf | None, f: SpecialField) -> Special:
    if f.kind == "kptr":
        return Special("kptr", f.offset, 8, f.target)
    size = KERNEL_TYPES[SPECIAL_NAMES[f.kind]].size
    if f.contains is None:
        return Special(f.kind, f.offset, size)
    node_type, node_member = f.contains
    node = -1
    found = btf.find(node_type, BTF_KIND_STRUCT) if btf is not None else None
    if btf is not None and found is not None:
        m = btf.member(found.id, node_member)
        node = m.bit_offset // 8 if m is not None else -1
    return Special(f.kind, f.offset, size, node_type, node)


def _maps(obj: BpfObject) -> dict[str, MapProto]:
    out = {
        name: MapProto(
            name,
            d.key_size,
            d.value_size,
            d.max_entries,
            tuple(_special(obj.btf, f) for f in d.value_fields),
        )
        for name, d in obj.maps.items()
    }
    for name, g in obj.globals.items():
        specials = tuple(_special(obj.btf, f) for f in g.fields)
        out[name] = MapProto(name, 4, len(g.data), 1, specials, g.read_only)
    return out


def _local_types(btf: Btf | None) -> dict[int, LocalType]:
    """The object's own structs (not kernel ones), by BTF id, for ``bpf_obj_new``."""
    if btf is None:
        return {}
    out = {}
    for t in btf.types:
        if t.kind != BTF_KIND_STRUCT or not t.name or t.name in KERNEL_TYPES:
            continue
        fields = special_fields(btf, t.id)
        out[t.id] = LocalType(t.name, t.size, tuple(_special(btf, f) for f in fields))
    return out
