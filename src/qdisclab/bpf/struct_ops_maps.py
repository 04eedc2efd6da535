"""struct_ops maps: ``SEC(".struct_ops")`` / ``SEC(".struct_ops.link")`` ops tables.

Each variable in those sections is one ops table (``struct Qdisc_ops``,
``struct tcp_congestion_ops``): its function members point to programs through
``R_BPF_64_ABS64`` relocations, its data members (``id``, ``name``,
``flags``) are the section's bytes. Only types qdisclab models as ops tables
(:data:`~qdisclab.bpf.kernel_types.KERNEL_TYPES` entries that view
``struct_ops``) load; a member qdisclab does not model is an error naming it.

>>> m = StructOpsMap("fifo", "Qdisc_ops", True, {"enqueue": "fifo_enqueue"}, {"id": "bpf_fifo"})
>>> m.kind_name
'bpf_fifo'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qdisclab.bpf.btf import BTF_KIND_DATASEC, BTF_KIND_PTR, Btf
from qdisclab.bpf.elf import R_BPF_64_ABS64, BpfElf
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.kernel_types import KERNEL_TYPES

STRUCT_OPS_SECTIONS = (".struct_ops", ".struct_ops.link")


@dataclass(slots=True)
class StructOpsMap:
    """An ops table: member -> program name, and its non-zero data members."""

    name: str
    struct: str
    link: bool  # from .struct_ops.link (attached through a BPF link)
    programs: dict[str, str] = field(default_factory=dict)
    data: dict[str, int | str] = field(default_factory=dict)

    @property
    def kind_name(self) -> str:
        """The name it registers under: a qdisc's ``id``, a congestion control's ``name``."""
        value = self.data.get("id", self.data.get("name", ""))
        return str(value)


def read_struct_ops(elf: BpfElf, btf: Btf | None) -> dict[str, StructOpsMap]:
    """Every struct_ops map of the object, by variable name."""
    out: dict[str, StructOpsMap] = {}
    for sec_name in STRUCT_OPS_SECTIONS:
        sec = elf.sections.get(sec_name)
        if sec is None:
            continue
        datasec = btf.find(sec_name, BTF_KIND_DATASEC) if btf is not None else None
        if btf is None or datasec is None:
            raise BpfLoadError(elf.path, f"section {sec_name} needs BTF (build with -g)")
        relocs = {r.offset: r for r in sec.relocations}
        for info in datasec.secinfos:
            var = btf[info.type_id]
            st = btf.skip_modifiers(var.ref)
            where = f"{elf.path}: struct_ops {var.name}"
            model = KERNEL_TYPES.get(st.name)
            if model is None or model.views != "struct_ops":
                raise BpfLoadError(where, f"struct {st.name} is not an ops table qdisclab runs")
            ops = StructOpsMap(var.name, st.name, sec_name.endswith(".link"))
            for m in st.members:
                at = info.offset + m.bit_offset // 8
                kf = model.field(m.name)
                if kf is None:
                    raise BpfLoadError(
                        where, f"struct {st.name} has no member {m.name!r} in qdisclab"
                    )
                size = btf.sizeof(m.type_id)
                raw = sec.data[at : at + size]
                rel = relocs.get(at)
                if kf.is_function:
                    if rel is not None and rel.type == R_BPF_64_ABS64:
                        ops.programs[m.name] = rel.symbol.name
                    elif any(raw):
                        raise BpfLoadError(where, f".{m.name} is not a program")
                elif btf.skip_modifiers(m.type_id).kind == BTF_KIND_PTR or rel is not None:
                    raise BpfLoadError(where, f".{m.name}: pointer members must stay NULL")
                elif kf.array_len and kf.decl.startswith("char"):
                    ops.data[m.name] = raw.split(b"\0", 1)[0].decode("ascii", "replace")
                elif any(raw):
                    ops.data[m.name] = int.from_bytes(raw, "little")
            out[var.name] = ops
    return out
