"""A loaded BPF object: programs, maps, global data, struct_ops maps and externs.

:func:`load_object` reads a clang-built ``.bpf.o`` and checks what libbpf
checks at open/load time: every extern is provided (kfuncs by name from the
declared tables, kconfig values, kernel variables), every CO-RE access names a
modelled field, every struct_ops member points to a program in a
``struct_ops/`` section. It executes nothing.

>>> obj = load_object("examples/bpf/fifo.bpf.o")          # doctest: +SKIP
>>> sorted(obj.programs), obj.struct_ops["fifo"].kind_name  # doctest: +SKIP
(['fifo_dequeue', 'fifo_destroy', ...], 'bpf_fifo')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qdisclab.bpf.btf import BTF_KIND_DATASEC, BTF_KIND_TYPE_TAG, Btf, BtfVarSecinfo
from qdisclab.bpf.btf_ext import BPF_CORE_TYPE_ID_LOCAL, BtfExt
from qdisclab.bpf.core import essential_name
from qdisclab.bpf.elf import BpfElf, program_type, read_elf
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.externs import Extern, classify_externs, kconfig_area, missing, provided_kfuncs
from qdisclab.bpf.global_data import GlobalData, is_data_section, read_global_data
from qdisclab.bpf.link import SymbolKinds, link_programs
from qdisclab.bpf.map_defs import MapDef, read_map_defs
from qdisclab.bpf.program import BpfProgram
from qdisclab.bpf.struct_ops_maps import StructOpsMap, read_struct_ops
from qdisclab.ops.maps import BpfMap


@dataclass(slots=True)
class BpfObject:
    """Everything an object defines; see the module docstring."""

    path: str
    license: str
    btf: Btf | None
    programs: dict[str, BpfProgram]
    maps: dict[str, MapDef]
    globals: dict[str, GlobalData]
    struct_ops: dict[str, StructOpsMap]
    externs: list[Extern] = field(default_factory=list)
    core_types: list[str] = field(default_factory=list)  # kernel structs reached via CO-RE

    def program(self, name_or_section: str) -> BpfProgram:
        """A program by its name, or the only program of a section."""
        if name_or_section in self.programs:
            return self.programs[name_or_section]
        found = [p for p in self.programs.values() if p.section == name_or_section]
        if len(found) == 1:
            return found[0]
        choice = ", ".join(sorted(self.programs)) or "none"
        what = "several programs in" if found else "no program or section"
        raise BpfLoadError(self.path, f"{what} {name_or_section!r} (programs: {choice})")

    def create_maps(self) -> dict[str, BpfMap]:
        """Fresh qdisclab maps for every ``.maps`` definition (one set per attach)."""
        return {name: d.create() for name, d in self.maps.items()}

    @property
    def kfuncs(self) -> list[str]:
        return sorted({e.name for e in self.externs if e.kind == "kfunc"})


def load_object(
    path: str | Path, data: bytes | None = None, kfuncs: frozenset[str] | None = None
) -> BpfObject:
    """Read and check the object at ``path``; raises :class:`BpfLoadError` naming the fault."""
    elf = read_elf(path, data)
    where = elf.path
    btf = _btf(elf)
    ext = _btf_ext(elf, btf)
    for sec in elf.program_sections():
        if program_type(sec.name) is None:
            raise BpfLoadError(where, f"section {sec.name!r} is not a program type qdisclab runs")
    if btf is None and ".maps" in elf.sections:
        raise BpfLoadError(where, "BTF-defined maps (.maps) need BTF: build with -g")
    maps = {d.name: d for d in read_map_defs(btf, where)} if btf is not None else {}
    by_offset = {d.offset: d.name for d in maps.values()}
    undefined = {s.name: s.binding == "weak" for s in elf.symbols if s.is_extern and s.name}
    externs = classify_externs(btf, undefined) if btf is not None else _untyped(undefined)
    absent = missing(externs, provided_kfuncs() if kfuncs is None else kfuncs)
    if absent:
        e = absent[0]
        raise BpfLoadError(where, f"extern {e.kind} '{e.name}' is not provided by qdisclab")
    kconfig = kconfig_area(externs, btf)
    places = {e.name: (e.kind, 0) for e in externs}
    places |= {v.name: ("kconfig", v.offset) for v in kconfig.variables}
    data_sections = frozenset(name for name in elf.sections if is_data_section(name))
    kinds = SymbolKinds(places, by_offset.get, data_sections)
    programs = link_programs(elf, btf, ext, kinds)
    _check_kptr_tags(where, btf, programs)
    struct_ops = read_struct_ops(elf, btf)
    for ops in struct_ops.values():
        for member, prog in ops.programs.items():
            p = programs.get(prog)
            if p is None or program_type(p.section) != ("struct_ops", ""):
                raise BpfLoadError(
                    where, f"struct_ops {ops.name}.{member}: {prog} is not a struct_ops program"
                )
    return BpfObject(
        where,
        elf.license,
        btf,
        programs,
        maps,
        read_global_data(elf, btf) | ({kconfig.section: kconfig} if kconfig.variables else {}),
        struct_ops,
        externs,
        sorted(_core_roots(btf, ext)),
    )


def _check_kptr_tags(where: str, btf: Btf | None, programs: dict[str, BpfProgram]) -> None:
    """bpf_kptr_xchg needs a __kptr field; clang < 15 drops the tag without a word."""
    uses = sorted(
        p.name
        for p in programs.values()
        if any(r.kind == "helper" and r.symbol == "bpf_kptr_xchg" for r in p.relocations)
    )
    if not uses or btf is None:
        return
    if not any(t.kind == BTF_KIND_TYPE_TAG and t.name == "kptr" for t in btf.types):
        raise BpfLoadError(
            where,
            f"{uses[0]} calls bpf_kptr_xchg but no field is tagged __kptr: the compiler "
            "dropped the type tag (clang < 15 does); rebuild with qdisclab bpf build",
        )


def _btf(elf: BpfElf) -> Btf | None:
    sec = elf.sections.get(".BTF")
    if sec is None:
        return None
    try:
        btf = Btf.parse(sec.data)
    except BpfLoadError as exc:
        raise BpfLoadError(elf.path, exc.problem) from None
    _fixup_datasecs(elf, btf)
    return btf


def _fixup_datasecs(elf: BpfElf, btf: Btf) -> None:
    """Fill in DATASEC variable offsets and section sizes from the symbol table.

    clang leaves them 0 in object files; libbpf's btf_fixup_datasec sets each
    variable's offset to its symbol's value, and so do we.
    """
    for t in btf.types:
        if t.kind != BTF_KIND_DATASEC or t.name not in elf.sections:
            continue
        values = {s.name: s.value for s in elf.symbols if s.section == t.name}
        t.size = elf.sections[t.name].size
        t.secinfos = tuple(
            BtfVarSecinfo(info.type_id, values.get(btf[info.type_id].name, info.offset), info.size)
            for info in t.secinfos
        )


def _btf_ext(elf: BpfElf, btf: Btf | None) -> BtfExt | None:
    sec = elf.sections.get(".BTF.ext")
    if sec is None or btf is None:
        return None
    try:
        return BtfExt.parse(sec.data, btf.strings)
    except BpfLoadError as exc:
        raise BpfLoadError(elf.path, exc.problem) from None


def _untyped(undefined: dict[str, bool]) -> list[Extern]:
    return [
        Extern(n, "kconfig" if n.startswith("CONFIG_") else "kfunc", 0, w)
        for n, w in undefined.items()
    ]


def _core_roots(btf: Btf | None, ext: BtfExt | None) -> set[str]:
    if btf is None or ext is None:
        return set()
    return {
        essential_name(btf.skip_modifiers(r.type_id).name)
        for relos in ext.core_relos.values()
        for r in relos
        if r.kind != BPF_CORE_TYPE_ID_LOCAL and btf.skip_modifiers(r.type_id).name
    }
