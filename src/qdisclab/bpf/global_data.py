"""Global data: ``.data``, ``.bss``, ``.rodata`` and private ``.data.<name>`` sections.

libbpf turns each such section into an array map of one element whose value
is the section's bytes; a program reaches a global with ``ld_imm64`` of that
map's value plus the variable's offset (relocation kind ``data``). Private
sections (``private(name)``) hold graph roots — ``bpf_list_head``,
``bpf_rb_root`` with their ``__contains`` tags — and the ``bpf_spin_lock``
guarding them.

>>> g = GlobalData(".bss", bytearray(8), False, [GlobalVar("count", 0, 4, 1)], [])
>>> g.var("count").size, g.read_only
(4, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qdisclab.bpf.btf import BTF_KIND_DATASEC, Btf
from qdisclab.bpf.elf import BpfElf
from qdisclab.bpf.special_fields import SpecialField, special_fields


def is_data_section(name: str) -> bool:
    """Whether a section named ``name`` is global data libbpf maps."""
    return name in (".data", ".bss", ".rodata") or name.startswith((".data.", ".rodata."))


@dataclass(frozen=True, slots=True)
class GlobalVar:
    name: str
    offset: int
    size: int
    type_id: int


@dataclass(slots=True)
class GlobalData:
    """One global-data section: its initial bytes, variables and special fields."""

    section: str
    data: bytearray
    read_only: bool
    variables: list[GlobalVar]
    fields: list[SpecialField] = field(default_factory=list)

    def var(self, name: str) -> GlobalVar | None:
        for v in self.variables:
            if v.name == name:
                return v
        return None


def read_global_data(elf: BpfElf, btf: Btf | None) -> dict[str, GlobalData]:
    """Every global-data section of the object, by section name."""
    out: dict[str, GlobalData] = {}
    for sec in elf.sections.values():
        if not is_data_section(sec.name):
            continue
        variables, fields = [], []
        datasec = btf.find(sec.name, BTF_KIND_DATASEC) if btf is not None else None
        if datasec is not None and btf is not None:
            for info in datasec.secinfos:
                var = btf[info.type_id]
                variables.append(GlobalVar(var.name, info.offset, info.size, var.ref))
                fields += special_fields(btf, var.ref, var.name, info.offset, btf.decl_tags(var.id))
        else:  # no BTF: the symbol table still names the variables
            variables = [
                GlobalVar(s.name, s.value, s.size, 0)
                for s in elf.symbols
                if s.section == sec.name and s.type == "object"
            ]
        out[sec.name] = GlobalData(
            sec.name, bytearray(sec.data), not sec.writable, variables, fields
        )
    return out
