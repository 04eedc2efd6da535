"""One loaded BPF program: its bytecode, what each relocated slot refers to, and its source lines.

This is the boundary between the object reader (ELF, BTF, maps, CO-RE) and the
executors (interpreter, translator): the reader produces :class:`BpfProgram`
values, an executor decodes ``insns`` itself and, for the slots listed in
``relocations``, asks a resolver what the pseudo-immediate or call target is.
Nothing here executes anything.

What the reader has already done to ``insns`` (as libbpf does before the
kernel sees a program):

* ``.text`` subprograms a program calls (directly, or as a callback passed with
  ``ld_imm64 src=BPF_PSEUDO_FUNC``) are appended after the program's own
  instructions; ``subprograms`` gives each one's entry slot. bpf-to-bpf calls
  (``call`` with ``src_reg == BPF_PSEUDO_CALL``) and ``BPF_PSEUDO_FUNC`` loads
  carry the kernel's pc-relative ``imm`` (target = slot + imm + 1) into the
  combined ``insns``.
* CO-RE relocations are applied against :mod:`qdisclab.bpf.kernel_types`
  (field offsets, sizes, existence patched into ``off``/``imm``).
* ``src_reg`` of each relocated instruction is the kernel's pseudo source
  (``BPF_PSEUDO_MAP_FD``, ``BPF_PSEUDO_MAP_VALUE``, ``BPF_PSEUDO_BTF_ID``,
  ``BPF_PSEUDO_KFUNC_CALL``, ``BPF_PSEUDO_FUNC``); the ``imm`` of map, data,
  ksym, kconfig and kfunc slots is left 0 — the executor must look the slot up.

A slot is an index of an 8-byte instruction slot (``ld_imm64`` takes two; its
relocation names the first).

Where the rest of a loaded object lives (:func:`qdisclab.bpf.objects.load_object`):
``BpfObject.maps`` (definitions; ``create_maps()`` gives qdisclab maps),
``.globals`` (each data section's initial bytes, variables and graph roots),
``.struct_ops`` (member -> program name) and ``.externs``; the kconfig
externs' values are laid out in ``globals[".kconfig"]`` (read only). A kernel-struct view maps an offset to
the bound attribute with ``KERNEL_TYPES[name].field_at(offset, size)``
(:mod:`qdisclab.bpf.kernel_types`).

>>> p = BpfProgram("enq", "struct_ops/enqueue", bytes(16),
...                [Relocation(0, "helper", "bpf_ktime_get_ns", 5)])
>>> p.n_slots, p.relocation_at(0).symbol
(2, 'bpf_ktime_get_ns')
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

# The kernel's pseudo sources (include/uapi/linux/bpf.h).
BPF_PSEUDO_MAP_FD = 1  # ld_imm64: the map itself
BPF_PSEUDO_MAP_VALUE = 2  # ld_imm64: address inside a map's value (global data)
BPF_PSEUDO_BTF_ID = 3  # ld_imm64: address of a kernel variable (__ksym)
BPF_PSEUDO_FUNC = 4  # ld_imm64: address of a subprogram (callback)
BPF_PSEUDO_CALL = 1  # call: bpf-to-bpf
BPF_PSEUDO_KFUNC_CALL = 2  # call: a kfunc by BTF id

RelocKind = Literal["map", "data", "kfunc", "helper", "subprog", "ksym", "kconfig"]
"""What a relocated slot refers to.

============  ==================================  =====================================
kind          instruction                          ``symbol`` / ``addend``
============  ==================================  =====================================
``map``       ``ld_imm64`` (``BPF_PSEUDO_MAP_FD``)  map name in ``.maps`` / 0
``data``      ``ld_imm64`` (``BPF_PSEUDO_MAP_VALUE``) global-data map name (``.bss``,
                                                   ``.data``, ``.rodata``, ``.data.x``)
                                                   / byte offset inside it
``kfunc``     ``call`` (``BPF_PSEUDO_KFUNC_CALL``)  kernel function name / 0
``helper``    ``call`` (``src_reg == 0``)          ``bpf_<name>`` / the helper id
``subprog``   ``call`` (``BPF_PSEUDO_CALL``) or    subprogram name / its entry slot
              ``ld_imm64`` (``BPF_PSEUDO_FUNC``)   in the combined ``insns``
``ksym``      ``ld_imm64`` (``BPF_PSEUDO_BTF_ID``)  kernel variable name / 0
``kconfig``   ``ld_imm64`` (``BPF_PSEUDO_MAP_VALUE``) ``CONFIG_...`` name / byte offset in
                                                   the ``.kconfig`` area
                                                   (``BpfObject.globals[".kconfig"]``)
============  ==================================  =====================================
"""


@dataclass(frozen=True, slots=True)
class Relocation:
    """What the instruction at ``slot`` refers to (see :data:`RelocKind`)."""

    slot: int
    kind: RelocKind
    symbol: str
    addend: int = 0


@dataclass(frozen=True, slots=True)
class FuncInfo:
    """A function boundary from BTF.ext func info: ``name`` starts at ``slot``."""

    slot: int
    name: str
    type_id: int = 0


@dataclass(frozen=True, slots=True)
class LineInfo:
    """A source position from BTF.ext line info: instructions from ``slot`` on."""

    slot: int
    file: str
    line: int
    column: int
    text: str


def line_at(line_info: list[LineInfo], slot: int) -> LineInfo | None:
    """The last record of ``line_info`` (sorted by slot) at or before ``slot``."""
    index = bisect.bisect_right(line_info, slot, key=lambda li: li.slot) - 1
    return line_info[index] if index >= 0 else None


@dataclass(frozen=True, slots=True)
class Subprogram:
    """A function whose code lives in ``insns`` from ``slot`` (the entry) on."""

    name: str
    slot: int
    n_slots: int


@dataclass(slots=True)
class BpfProgram:
    """A program ready to execute: see the module docstring for what ``insns`` holds.

    ``section`` is the ELF section it came from (``struct_ops/enqueue``,
    ``tcx/ingress``, ...); ``subprograms`` lists the program's own entry
    (slot 0) first, then each appended ``.text`` function.
    """

    name: str
    section: str
    insns: bytes
    relocations: list[Relocation] = field(default_factory=list)
    func_info: list[FuncInfo] = field(default_factory=list)
    line_info: list[LineInfo] = field(default_factory=list)
    subprograms: list[Subprogram] = field(default_factory=list)
    _by_slot: dict[int, Relocation] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.insns) % 8:
            raise ValueError(f"{self.name}: {len(self.insns)} bytes is not whole 8-byte slots")
        self._by_slot = {r.slot: r for r in self.relocations}
        self.line_info.sort(key=lambda li: li.slot)

    @property
    def n_slots(self) -> int:
        """Number of 8-byte instruction slots."""
        return len(self.insns) // 8

    def relocation_at(self, slot: int) -> Relocation | None:
        """The relocation for the instruction at ``slot``, or None."""
        return self._by_slot.get(slot)

    def source_line(self, slot: int) -> tuple[str, int, str] | None:
        """``(file, line, text)`` of the source the instruction at ``slot`` came from.

        The last line-info record at or before ``slot`` (BTF line info marks
        where a line's code begins); None without line info.
        """
        best = line_at(self.line_info, slot)
        return None if best is None else (best.file, best.line, best.text)

    def function_at(self, slot: int) -> str:
        """Name of the (sub)program that contains ``slot``."""
        name = self.name
        for sub in self.subprograms:
            if sub.slot <= slot < sub.slot + sub.n_slots:
                return sub.name
        return name
