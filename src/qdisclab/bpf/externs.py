"""Extern symbols of a BPF object: kfuncs, kernel variables (``__ksym``), kconfig values.

clang leaves an ``extern`` undefined in the ELF symbol table and describes it in
BTF: a ``FUNC`` with extern linkage in the ``.ksyms`` DATASEC is a kfunc, a
``VAR`` there a kernel variable, a ``VAR`` in ``.kconfig`` a kconfig value.
An extern qdisclab does not provide fails the load with its name, as libbpf's
"failed to find kernel BTF for extern" / "unrecognized kconfig extern" do
(a ``__weak`` extern resolves to 0 instead).

Kfuncs qdisclab provides are the declared kfunc tables (:data:`qdisclab.ops.kfunc.KFUNCS`,
filled by the qdisc and TCP layers) plus the generic BPF kfuncs below, which
every struct_ops and tc program may call.

>>> KCONFIG["CONFIG_HZ"]
1000
>>> area = kconfig_area([Extern("CONFIG_HZ", "kconfig", 0)], None)
>>> area.var("CONFIG_HZ").offset, int.from_bytes(area.data[:8], "little")
(0, 1000)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qdisclab.bpf.btf import (
    BTF_KIND_DATASEC,
    BTF_KIND_FUNC,
    BTF_KIND_VAR,
    Btf,
)
from qdisclab.bpf.global_data import GlobalData, GlobalVar

KCONFIG_SECTION = ".kconfig"

ExternKind = Literal["kfunc", "ksym", "kconfig"]

# Kconfig values qdisclab's kernel is built with (CONFIG_HZ: the jiffy clock).
KCONFIG: dict[str, int] = {
    "CONFIG_HZ": 1000,
    "CONFIG_BPF_SYSCALL": 1,
    "CONFIG_NET_SCH_BPF": 1,
}

# Kernel variables a program may take the address of with __ksym (none yet).
KSYMS: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Extern:
    """An extern the object references; ``type_id`` is its BTF FUNC or VAR."""

    name: str
    kind: ExternKind
    type_id: int
    weak: bool = False


def provided_kfuncs() -> frozenset[str]:
    """Names of every kfunc a compiled program can be bound to."""
    # Importing the layers registers their kfuncs in the shared table; the generic ones
    # (objects, graphs, iterators: kernel/bpf/helpers.c) are those the binding implements.
    import qdisclab.sched
    import qdisclab.tcp  # noqa: F401
    from qdisclab.bpf.kfunc_binding import generic_kfunc_names
    from qdisclab.ops.kfunc import KFUNCS

    return generic_kfunc_names() | {kf.name for kf in KFUNCS.all()}


def classify_externs(btf: Btf, names: dict[str, bool]) -> list[Extern]:
    """The externs among ``names`` (symbol name -> is weak), classified from BTF."""
    where: dict[int, str] = {}
    for t in btf.types:
        if t.kind == BTF_KIND_DATASEC and t.name in (".ksyms", ".kconfig"):
            for info in t.secinfos:
                where[info.type_id] = t.name
    externs = []
    for name, weak in names.items():
        func = btf.find(name, BTF_KIND_FUNC)
        var = btf.find(name, BTF_KIND_VAR)
        if func is not None:
            externs.append(Extern(name, "kfunc", func.id, weak))
        elif var is not None and where.get(var.id) == ".kconfig":
            externs.append(Extern(name, "kconfig", var.id, weak))
        elif var is not None:
            externs.append(Extern(name, "ksym", var.id, weak))
        elif name.startswith("CONFIG_"):
            externs.append(Extern(name, "kconfig", 0, weak))
        else:
            externs.append(Extern(name, "kfunc", 0, weak))
    return externs


def missing(externs: list[Extern], kfuncs: frozenset[str]) -> list[Extern]:
    """The non-weak externs qdisclab does not provide."""
    provided = {"kfunc": kfuncs, "kconfig": frozenset(KCONFIG), "ksym": KSYMS}
    return [e for e in externs if not e.weak and e.name not in provided[e.kind]]


def kconfig_area(externs: list[Extern], btf: Btf | None) -> GlobalData:
    """The read-only ``.kconfig`` area the kconfig externs live in, values filled in.

    As libbpf does, each extern gets its own 8-byte-aligned place (sized by its
    BTF type, 8 bytes without one) holding qdisclab's value, or 0 for a weak
    extern qdisclab does not define; programs reach it through ``kconfig``
    relocations whose addend is that place.
    """
    variables, offset = [], 0
    for e in sorted((e for e in externs if e.kind == "kconfig"), key=lambda e: e.name):
        ref = btf[e.type_id].ref if btf is not None and e.type_id else 0
        size = btf.sizeof(ref) if btf is not None and ref else 8
        variables.append(GlobalVar(e.name, offset, size, ref))
        offset += -(-size // 8) * 8
    data = bytearray(offset)
    for v in variables:
        value = KCONFIG.get(v.name, 0) & ((1 << (8 * v.size)) - 1)
        data[v.offset : v.offset + v.size] = value.to_bytes(v.size, "little")
    return GlobalData(KCONFIG_SECTION, data, True, variables)
