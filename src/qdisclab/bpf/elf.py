"""The ELF layer of a BPF object, read with pyelftools.

:func:`read_elf` returns the sections (with their relocations), the symbol
table and the license; everything BPF-specific above plain ELF (BTF, maps,
programs) is built on this by :mod:`qdisclab.bpf.objects`.

Program sections are named as libbpf names them; :func:`program_type` maps a
section name to the program type and attach point qdisclab runs it as.

>>> program_type("tcx/ingress"), program_type("struct_ops/fifo_enqueue")
(('tcx', 'ingress'), ('struct_ops', ''))
>>> program_type("kprobe/foo") is None
True
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from qdisclab.bpf.errors import BpfLoadError

EM_BPF = 247

# Relocation types (llvm/BinaryFormat/ELFRelocs/BPF.def).
R_BPF_NONE = 0
R_BPF_64_64 = 1  # ld_imm64: map, global data, extern variable, subprogram address
R_BPF_64_ABS64 = 2  # data: a 64-bit address (struct_ops member -> program)
R_BPF_64_ABS32 = 3  # data: a 32-bit address (DWARF/BTF sections)
R_BPF_64_NODYLD32 = 4  # .BTF/.BTF.ext: section-relative offsets, nothing to do at load
R_BPF_64_32 = 10  # call: kfunc or subprogram
RELOC_NAMES = {
    R_BPF_NONE: "R_BPF_NONE",
    R_BPF_64_64: "R_BPF_64_64",
    R_BPF_64_ABS64: "R_BPF_64_ABS64",
    R_BPF_64_ABS32: "R_BPF_64_ABS32",
    R_BPF_64_NODYLD32: "R_BPF_64_NODYLD32",
    R_BPF_64_32: "R_BPF_64_32",
}

# Section name (or prefix ending in "/") -> (program type, attach point).
_PROGRAM_SECTIONS: dict[str, tuple[str, str]] = {
    "struct_ops/": ("struct_ops", ""),
    "struct_ops.s/": ("struct_ops", ""),
    "tc": ("tc", ""),
    "tc/ingress": ("tc", "ingress"),
    "tc/egress": ("tc", "egress"),
    "classifier": ("tc", ""),
    "tcx/ingress": ("tcx", "ingress"),
    "tcx/egress": ("tcx", "egress"),
    "netkit/primary": ("netkit", "primary"),
    "netkit/peer": ("netkit", "peer"),
}


def program_type(section: str) -> tuple[str, str] | None:
    """``(type, attach point)`` of a program in ``section``, or None if qdisclab has none."""
    exact = _PROGRAM_SECTIONS.get(section)
    if exact is not None:
        return exact
    for prefix, kind in _PROGRAM_SECTIONS.items():
        if prefix.endswith("/") and section.startswith(prefix) and len(section) > len(prefix):
            return kind
    return None


@dataclass(frozen=True, slots=True)
class ElfSymbol:
    """A symbol; ``section`` is None for undefined (extern) symbols."""

    name: str
    section: str | None
    value: int
    size: int
    type: str  # "func", "object", "notype", "section", "file"
    binding: str  # "local", "global", "weak"

    @property
    def is_extern(self) -> bool:
        return self.section is None and self.type != "file"


@dataclass(frozen=True, slots=True)
class ElfRelocation:
    """A relocation at byte ``offset`` of its section against ``symbol``."""

    offset: int
    type: int
    symbol: ElfSymbol

    @property
    def type_name(self) -> str:
        return RELOC_NAMES.get(self.type, f"R_BPF_{self.type}")


@dataclass(slots=True)
class ElfSection:
    """A section's bytes (zeros for NOBITS), flags and relocations."""

    name: str
    index: int
    type: str
    size: int
    data: bytes
    executable: bool
    writable: bool
    relocations: list[ElfRelocation] = field(default_factory=list)


@dataclass(slots=True)
class BpfElf:
    """An ELF object for the BPF target, as sections and symbols."""

    path: str
    sections: dict[str, ElfSection]
    symbols: list[ElfSymbol]
    license: str

    def section(self, name: str) -> ElfSection | None:
        return self.sections.get(name)

    def functions(self, section: str) -> list[ElfSymbol]:
        """Function symbols defined in ``section``, by address."""
        funcs = [s for s in self.symbols if s.section == section and s.type == "func"]
        return sorted(funcs, key=lambda s: s.value)

    def program_sections(self) -> list[ElfSection]:
        """Executable sections other than ``.text`` (those hold subprograms)."""
        return [s for s in self.sections.values() if s.executable and s.name != ".text"]

    def symbol(self, name: str) -> ElfSymbol | None:
        for sym in self.symbols:
            if sym.name == name:
                return sym
        return None


_SYMBOL_TYPES = {
    "STT_FUNC": "func",
    "STT_OBJECT": "object",
    "STT_NOTYPE": "notype",
    "STT_SECTION": "section",
    "STT_FILE": "file",
}
_BINDINGS = {"STB_LOCAL": "local", "STB_GLOBAL": "global", "STB_WEAK": "weak"}


def read_elf(path: str | Path, data: bytes | None = None) -> BpfElf:
    """Read a BPF object from ``path`` (or from ``data``, naming it ``path``)."""
    where = str(path)
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise BpfLoadError(where, f"cannot read: {exc.strerror}") from None
    try:
        elf = ELFFile(io.BytesIO(data))
        return _read(where, elf)
    except ELFError as exc:
        raise BpfLoadError(where, f"not a valid ELF object: {exc}") from None


def _read(where: str, elf: ELFFile) -> BpfElf:
    if elf["e_machine"] not in ("EM_BPF", EM_BPF):
        raise BpfLoadError(where, f"not a BPF object (machine {elf['e_machine']})")
    if not elf.little_endian:
        raise BpfLoadError(where, "big-endian BPF objects are not supported (build with bpfel)")
    names = [sec.name for sec in elf.iter_sections()]
    sections: dict[str, ElfSection] = {}
    for index, sec in enumerate(elf.iter_sections()):
        if isinstance(sec, RelocationSection) or not sec.name:
            continue
        nobits = sec["sh_type"] == "SHT_NOBITS"
        flags = sec["sh_flags"]
        sections[sec.name] = ElfSection(
            name=sec.name,
            index=index,
            type=sec["sh_type"],
            size=sec["sh_size"],
            data=bytes(sec["sh_size"]) if nobits else sec.data(),
            executable=bool(flags & SH_FLAGS.SHF_EXECINSTR),
            writable=bool(flags & SH_FLAGS.SHF_WRITE),
        )
    symtab = elf.get_section_by_name(".symtab")
    if symtab is None:
        raise BpfLoadError(where, "has no symbol table (.symtab)")
    symbols = [_symbol(sym, names) for sym in symtab.iter_symbols()]
    for sec in elf.iter_sections():
        if not isinstance(sec, RelocationSection):
            continue
        target = names[sec["sh_info"]]
        if target not in sections:
            continue
        sections[target].relocations = [
            ElfRelocation(rel["r_offset"], rel["r_info_type"], symbols[rel["r_info_sym"]])
            for rel in sec.iter_relocations()
        ]
    license_sec = sections.get("license")
    license_text = (
        license_sec.data.split(b"\0", 1)[0].decode("ascii", "replace") if license_sec else ""
    )
    return BpfElf(where, sections, symbols, license_text)


def _symbol(sym, section_names: list[str]) -> ElfSymbol:
    shndx = sym["st_shndx"]
    if isinstance(shndx, int) and 0 < shndx < len(section_names):
        section: str | None = section_names[shndx]
    else:
        section = None  # SHN_UNDEF, SHN_ABS, SHN_COMMON
    sym_type = _SYMBOL_TYPES.get(sym["st_info"]["type"], "notype")
    name = sym.name
    if sym_type == "section" and section is not None:
        name = section
    return ElfSymbol(
        name=name,
        section=section,
        value=sym["st_value"],
        size=sym["st_size"],
        type=sym_type,
        binding=_BINDINGS.get(sym["st_info"]["bind"], "global"),
    )
