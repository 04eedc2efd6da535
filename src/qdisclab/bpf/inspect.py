"""``qdisclab bpf inspect``: what an object holds, as plain data (the CLI renders it).

>>> summary = inspect_object(load_object("examples/bpf/fifo.bpf.o"))  # doctest: +SKIP
>>> summary["struct_ops"][0]["kind"]                                   # doctest: +SKIP
'bpf_fifo'
"""

from __future__ import annotations

from typing import Any

from qdisclab.bpf.elf import program_type
from qdisclab.bpf.objects import BpfObject


def inspect_object(obj: BpfObject) -> dict[str, Any]:
    """Programs, maps, global data, struct_ops, kfuncs, helpers and kernel types of ``obj``."""
    btf = obj.btf
    helpers = sorted(
        {r.symbol for p in obj.programs.values() for r in p.relocations if r.kind == "helper"}
    )
    programs = []
    for p in sorted(obj.programs.values(), key=lambda p: (p.section, p.name)):
        ptype, attach = program_type(p.section) or ("?", "")
        programs.append(
            {
                "name": p.name,
                "section": p.section,
                "type": ptype,
                "attach": attach,
                "insns": p.n_slots,
                "subprograms": [s.name for s in p.subprograms[1:]],
                "kfuncs": sorted({r.symbol for r in p.relocations if r.kind == "kfunc"}),
            }
        )
    maps = []
    for d in obj.maps.values():
        entry = {
            "name": d.name,
            "type": d.type_name,
            "key_size": d.key_size,
            "value_size": d.value_size,
            "max_entries": d.max_entries,
            "key": btf.type_str(d.key_type) if btf and d.key_type else "",
            "value": btf.type_str(d.value_type) if btf and d.value_type else "",
            "fields": [f.describe() for f in d.value_fields],
        }
        if d.inner is not None:
            entry["inner"] = f"{d.inner.type_name} (max_entries {d.inner.max_entries})"
        maps.append(entry)
    data = [
        {
            "section": g.section,
            "size": len(g.data),
            "read_only": g.read_only,
            "variables": [v.name for v in g.variables],
            "fields": [f.describe() for f in g.fields],
        }
        for g in obj.globals.values()
    ]
    struct_ops = [
        {
            "name": s.name,
            "struct": s.struct,
            "kind": s.kind_name,
            "link": s.link,
            "members": dict(s.programs),
            "data": dict(s.data),
        }
        for s in obj.struct_ops.values()
    ]
    return {
        "path": obj.path,
        "license": obj.license,
        "programs": programs,
        "maps": maps,
        "global_data": data,
        "struct_ops": struct_ops,
        "kfuncs": obj.kfuncs,
        "helpers": helpers,
        "kconfig": sorted(e.name for e in obj.externs if e.kind == "kconfig"),
        "kernel_types": obj.core_types,
    }
