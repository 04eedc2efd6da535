"""From program sections to :class:`~qdisclab.bpf.program.BpfProgram`: relocate and link.

For each program (a function symbol in a program section) this does what
libbpf does before loading: copy its instructions, append every ``.text``
subprogram it reaches (calls and callback addresses, transitively), fix the
pc-relative ``imm`` of those calls, record what each relocated slot refers to,
apply CO-RE relocations against the kernel types, and carry BTF.ext func and
line info over to the combined slots.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qdisclab.bpf.btf import Btf
from qdisclab.bpf.btf_ext import BPF_CORE_FIELD_BYTE_OFFSET, BtfExt
from qdisclab.bpf.core import CoreError, core_value, field_sizes, patch_insn
from qdisclab.bpf.elf import R_BPF_64_32, R_BPF_64_64, BpfElf, ElfRelocation, ElfSymbol
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.helper_ids import helper_name
from qdisclab.bpf.program import (
    BPF_PSEUDO_BTF_ID,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_VALUE,
    BpfProgram,
    FuncInfo,
    LineInfo,
    Relocation,
    RelocKind,
    Subprogram,
    line_at,
)

OP_CALL = 0x85
OP_LD_IMM64 = 0x18


@dataclass(frozen=True, slots=True)
class _Func:
    section: str
    start: int  # byte offset in the section
    size: int
    name: str


class SymbolKinds:
    """What a relocation's symbol is: answered by the object loader."""

    def __init__(
        self,
        externs: dict[str, tuple[RelocKind, int]],
        map_at: Callable[[int], str | None],
        data_sections: frozenset[str],
    ) -> None:
        self.externs = externs  # name -> ("kfunc" | "ksym" | "kconfig", place in .kconfig)
        self.map_at = map_at  # offset in .maps -> map name
        self.data_sections = data_sections


def link_programs(
    elf: BpfElf, btf: Btf | None, ext: BtfExt | None, kinds: SymbolKinds
) -> dict[str, BpfProgram]:
    """Every program of ``elf``, by name."""
    funcs = _functions(elf)
    programs: dict[str, BpfProgram] = {}
    for sec in elf.program_sections():
        for sym in elf.functions(sec.name):
            if sym.binding == "local":
                continue  # a static function in a program section is a subprogram
            main = _Func(sec.name, sym.value, sym.size or len(sec.data) - sym.value, sym.name)
            programs[sym.name] = _Linker(elf, btf, ext, kinds, funcs).link(main)
    return programs


def _functions(elf: BpfElf) -> dict[tuple[str, int], _Func]:
    funcs = {}
    for sec in elf.sections.values():
        if not sec.executable:
            continue
        for sym in elf.functions(sec.name):
            funcs[(sec.name, sym.value)] = _Func(sec.name, sym.value, sym.size, sym.name)
    return funcs


class _Linker:
    def __init__(
        self,
        elf: BpfElf,
        btf: Btf | None,
        ext: BtfExt | None,
        kinds: SymbolKinds,
        funcs: dict[tuple[str, int], _Func],
    ) -> None:
        self.elf, self.btf, self.ext, self.kinds, self.funcs = elf, btf, ext, kinds, funcs
        self.code = bytearray()
        self.placed: dict[_Func, int] = {}  # function -> its first slot
        self.relocs: list[Relocation] = []
        self.calls: list[tuple[int, _Func, str]] = []  # (slot, target, "call" | "func")

    def link(self, main: _Func) -> BpfProgram:
        queue = [main]
        while queue:
            func = queue.pop(0)
            if func in self.placed:
                continue
            queue.extend(self._place(func))
        for slot, target, how in self.calls:
            delta = self.placed[target] - (slot + 1)
            struct.pack_into("<i", self.code, slot * 8 + 4, delta)
            name = "subprog"
            self.relocs.append(Relocation(slot, name, target.name, self.placed[target]))
            if how == "func":
                self.code[slot * 8 + 1] = (self.code[slot * 8 + 1] & 0x0F) | (BPF_PSEUDO_FUNC << 4)
        self._apply_core()
        subs = [
            Subprogram(f.name, slot, f.size // 8)
            for f, slot in sorted(self.placed.items(), key=lambda item: item[1])
        ]
        return BpfProgram(
            main.name,
            main.section,
            bytes(self.code),
            sorted(self.relocs, key=lambda r: r.slot),
            self._func_info(),
            self._line_info(),
            subs,
        )

    def where(self, func: _Func, off: int) -> str:
        return f"{self.elf.path}: {func.section}+{off} ({func.name})"

    def _place(self, func: _Func) -> list[_Func]:
        """Append ``func``'s code; return the functions it reaches."""
        sec = self.elf.sections[func.section]
        base = len(self.code) // 8
        self.placed[func] = base
        self.code += sec.data[func.start : func.start + func.size]
        relocs = {
            r.offset: r for r in sec.relocations if func.start <= r.offset < func.start + func.size
        }
        reached = []
        for i in range(func.size // 8):
            off = func.start + i * 8
            slot = base + i
            code, regs = self.code[slot * 8], self.code[slot * 8 + 1]
            rel = relocs.get(off)
            if rel is not None:
                target = self._relocate(func, slot, rel)
                if target is not None:
                    reached.append(target)
            elif code == OP_CALL and regs >> 4 == BPF_PSEUDO_CALL:
                (imm,) = struct.unpack_from("<i", self.code, slot * 8 + 4)
                reached.append(self._call_target(func, func.section, off + (imm + 1) * 8, slot))
            elif code == OP_CALL and regs >> 4 == 0:
                (imm,) = struct.unpack_from("<i", self.code, slot * 8 + 4)
                name = helper_name(imm)
                if name is None:
                    raise BpfLoadError(self.where(func, off), f"unknown helper id {imm}")
                self.relocs.append(Relocation(slot, "helper", name, imm))
        return reached

    def _call_target(self, func: _Func, section: str, byte_off: int, slot: int) -> _Func:
        target = self.funcs.get((section, byte_off))
        if target is None:
            raise BpfLoadError(
                self.where(func, slot), f"call to {section}+{byte_off}: no function starts there"
            )
        self.calls.append((slot, target, "call"))
        return target

    def _relocate(self, func: _Func, slot: int, rel: ElfRelocation) -> _Func | None:
        sym: ElfSymbol = rel.symbol
        at = slot * 8
        code = self.code[at]
        (imm,) = struct.unpack_from("<i", self.code, at + 4)
        if rel.type == R_BPF_64_32 and code == OP_CALL:
            if sym.is_extern:
                self._set(slot, BPF_PSEUDO_KFUNC_CALL, 0)
                self.relocs.append(Relocation(slot, "kfunc", sym.name, 0))
                return None
            target_off = sym.value + (imm + 1) * 8 if sym.type == "section" else sym.value
            self.code[at + 1] = (self.code[at + 1] & 0x0F) | (BPF_PSEUDO_CALL << 4)
            return self._call_target(func, sym.section or "", target_off, slot)
        if rel.type != R_BPF_64_64 or code != OP_LD_IMM64:
            raise BpfLoadError(
                self.where(func, rel.offset - func.start),
                f"relocation {rel.type_name} against {sym.name!r} on instruction {code:#04x}",
            )
        if sym.is_extern:
            kind, place = self.kinds.externs[sym.name]
            src = BPF_PSEUDO_MAP_VALUE if kind == "kconfig" else BPF_PSEUDO_BTF_ID
            self._set(slot, src, 0)
            self.relocs.append(Relocation(slot, kind, sym.name, place + imm))
            return None
        section = sym.section or ""
        if section == ".maps":
            name = self.kinds.map_at(sym.value)
            if name is None:
                raise BpfLoadError(self.where(func, slot), f"no map at .maps+{sym.value}")
            self._set(slot, BPF_PSEUDO_MAP_FD, 0)
            self.relocs.append(Relocation(slot, "map", name, 0))
            return None
        if section in self.kinds.data_sections:
            self._set(slot, BPF_PSEUDO_MAP_VALUE, 0)
            self.relocs.append(Relocation(slot, "data", section, sym.value + imm))
            return None
        if self.elf.sections.get(section) is not None and self.elf.sections[section].executable:
            target = self.funcs.get((section, sym.value + imm))
            if target is None:
                raise BpfLoadError(
                    self.where(func, slot), f"callback at {section}+{imm}: no function"
                )
            self.calls.append((slot, target, "func"))
            return target
        raise BpfLoadError(
            self.where(func, rel.offset - func.start),
            f"ld_imm64 refers to {sym.name!r} in section {section!r}, which is not a map or data",
        )

    def _set(self, slot: int, src_reg: int, imm: int) -> None:
        at = slot * 8
        self.code[at + 1] = (self.code[at + 1] & 0x0F) | (src_reg << 4)
        struct.pack_into("<i", self.code, at + 4, imm)
        if self.code[at] == OP_LD_IMM64:
            struct.pack_into("<i", self.code, at + 12, 0)

    # -- BTF.ext -------------------------------------------------------------
    def _records(self, table: dict) -> list[tuple[int, object]]:
        """(combined slot, record) for every record inside a placed function."""
        out = []
        for func, base in self.placed.items():
            for rec in table.get(func.section, ()):
                if func.start <= rec.insn_off < func.start + func.size:
                    out.append((base + (rec.insn_off - func.start) // 8, rec))
        return sorted(out, key=lambda item: item[0])

    def _func_info(self) -> list[FuncInfo]:
        if self.ext is None or self.btf is None:
            return []
        return [
            FuncInfo(slot, self.btf[rec.type_id].name, rec.type_id)
            for slot, rec in self._records(self.ext.func_info)
        ]

    def _line_info(self) -> list[LineInfo]:
        if self.ext is None:
            return []
        return [
            LineInfo(slot, rec.file, rec.line, rec.column, rec.line_text)
            for slot, rec in self._records(self.ext.line_info)
        ]

    def _apply_core(self) -> None:
        if self.ext is None or self.btf is None:
            return
        line_info = self._line_info()
        for slot, relo in self._records(self.ext.core_relos):
            try:
                value = core_value(self.btf, relo)
                sizes = (0, 0)
                if relo.kind == BPF_CORE_FIELD_BYTE_OFFSET:
                    sizes = field_sizes(self.btf, relo)
                patch_insn(self.code, slot, value, relo.kind, sizes)
            except CoreError as exc:
                prog = next(iter(self.placed)).name
                line = line_at(line_info, slot)
                src = f" ({Path(line.file).name}:{line.line})" if line else ""
                raise BpfLoadError(
                    f"{self.elf.path}: program {prog}{src}",
                    f"CO-RE {relo.kind_name} relocation: {exc}",
                ) from None
