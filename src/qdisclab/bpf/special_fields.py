"""Special fields inside a map value, a global or an allocated object (the kernel's btf_record).

``bpf_spin_lock``, ``bpf_list_head``/``bpf_rb_root`` (with the ``__contains``
tag naming the node type and member), ``bpf_list_node``/``bpf_rb_node``,
``bpf_refcount`` and ``__kptr`` pointers are found by walking the type; nested
structs and arrays of them are followed.

>>> SpecialField("list_head", 8, "q", contains=("skb_node", "node")).describe()
'q: bpf_list_head __contains(skb_node, node) at +8'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qdisclab.bpf.btf import (
    BTF_KIND_ARRAY,
    BTF_KIND_PTR,
    BTF_KIND_STRUCT,
    BTF_KIND_UNION,
    Btf,
)
from qdisclab.bpf.errors import BpfLoadError

FieldKind = Literal["spin_lock", "list_head", "list_node", "rb_root", "rb_node", "refcount", "kptr"]
_BY_STRUCT: dict[str, FieldKind] = {
    "bpf_spin_lock": "spin_lock",
    "bpf_list_head": "list_head",
    "bpf_list_node": "list_node",
    "bpf_rb_root": "rb_root",
    "bpf_rb_node": "rb_node",
    "bpf_refcount": "refcount",
}
_ROOTS = ("list_head", "rb_root")


@dataclass(frozen=True, slots=True)
class SpecialField:
    """A special field at byte ``offset``; ``contains`` for roots, ``target`` for kptrs."""

    kind: FieldKind
    offset: int
    name: str
    contains: tuple[str, str] | None = None  # (node struct, node member)
    target: str = ""  # struct a kptr points to

    def describe(self) -> str:
        text = f"{self.name}: "
        if self.kind == "kptr":
            text += f"struct {self.target} __kptr *"
        else:
            text += f"bpf_{self.kind}"
        if self.contains:
            text += f" __contains({self.contains[0]}, {self.contains[1]})"
        return f"{text} at +{self.offset}"


def contains_tag(tags: list[str], where: str) -> tuple[str, str] | None:
    """Parse ``contains:TYPE:MEMBER`` among decl tags."""
    for tag in tags:
        if tag.startswith("contains:"):
            parts = tag.split(":")
            if len(parts) != 3 or not parts[1] or not parts[2]:
                raise BpfLoadError(where, f"malformed tag {tag!r} (want contains:type:member)")
            return parts[1], parts[2]
    return None


def special_fields(
    btf: Btf, type_id: int, name: str = "", offset: int = 0, tags: list[str] | None = None
) -> list[SpecialField]:
    """The special fields of type ``type_id`` placed at ``offset`` (``tags``: its decl tags)."""
    t = btf.skip_modifiers(type_id)
    if t.kind == BTF_KIND_STRUCT and t.name in _BY_STRUCT:
        kind = _BY_STRUCT[t.name]
        contains = contains_tag(tags or [], name) if kind in _ROOTS else None
        if kind in _ROOTS and contains is None:
            raise BpfLoadError(name, f"bpf_{kind} without __contains(type, member)")
        return [SpecialField(kind, offset, name, contains)]
    if t.kind == BTF_KIND_PTR and "kptr" in btf.type_tags(type_id):
        return [SpecialField("kptr", offset, name, target=btf.skip_modifiers(t.ref).name)]
    if t.kind in (BTF_KIND_STRUCT, BTF_KIND_UNION):
        out = []
        for index, m in enumerate(t.members):
            child = f"{name}.{m.name}" if name else m.name
            out += special_fields(
                btf, m.type_id, child, offset + m.bit_offset // 8, btf.decl_tags(t.id, index)
            )
        return out
    if t.kind == BTF_KIND_ARRAY:
        if btf.skip_modifiers(t.ref).kind not in (BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_PTR):
            return []  # an array of scalars holds nothing special
        elem = btf.sizeof(t.ref)
        out = []
        for i in range(t.nelems):
            out += special_fields(btf, t.ref, f"{name}[{i}]", offset + i * elem, tags)
        return out
    return []
