"""Run a program from a loaded object on either engine.

The object reader hands over a :class:`~qdisclab.bpf.program.BpfProgram`:
bytecode whose relocated slots still need binding. :func:`code_for` turns it
into the engines' :class:`~qdisclab.bpf.code.Code` as libbpf prepares a
program for the kernel (the offset into a global-data section goes into the
second slot of its ``ld_imm64``; each relocated slot keeps the name it
refers to; line info becomes the fault reports' source lines), and
:class:`ObjectResolver` binds those names: global-data sections and maps
become regions of the program's :class:`~qdisclab.bpf.memory.Memory`,
helpers and kfuncs come from the tables it is given.

>>> from dataclasses import dataclass
>>> @dataclass
... class Rel:
...     slot: int; kind: str; symbol: str; addend: int = 0
>>> @dataclass
... class Prog:
...     name: str; insns: bytes; relocations: list
...     def source_line(self, slot): return None
>>> from qdisclab.bpf.asm import assemble
>>> text = assemble("r1 = map_value[0]+0 ll\\nr0 = *(u32 *)(r1 + 0)\\nexit").insns
>>> prog = Prog("read_global", text, [Rel(0, "data", ".bss", 4)])
>>> memory = Memory()
>>> resolver = ObjectResolver(memory, globals={".bss": Global(bytearray(b"\\0\\0\\0\\0\\x2a\\0\\0\\0"))})
>>> load(prog, resolver, memory).run()
42
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from qdisclab.bpf import isa
from qdisclab.bpf.code import Code
from qdisclab.bpf.codegen import StructLayouts
from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.interp import Interpreter
from qdisclab.bpf.memory import BytesRegion, Memory
from qdisclab.bpf.proven import Proven
from qdisclab.bpf.resolver import BpfFunction
from qdisclab.bpf.translate import Translated
from qdisclab.bpf.wrap import CallbackWrap

KCONFIG = ".kconfig"  # the area kconfig externs live in, as libbpf names it
_NAMED_KINDS = ("map", "data", "kfunc", "ksym")


class RelocationLike(Protocol):
    """What :class:`~qdisclab.bpf.program.Relocation` offers the runner."""

    slot: int
    kind: str
    symbol: str
    addend: int


class ProgramLike(Protocol):
    """What :class:`~qdisclab.bpf.program.BpfProgram` offers the runner."""

    name: str
    insns: bytes

    @property
    def relocations(self) -> Sequence[RelocationLike]: ...

    def source_line(self, slot: int) -> tuple[str, int, str] | None: ...


class GlobalLike(Protocol):
    """A global-data section: its bytes and whether programs may write them."""

    data: bytearray
    read_only: bool


@dataclass(slots=True)
class Global:
    """A global-data section built by hand (tests, the ``.kconfig`` area)."""

    data: bytearray
    read_only: bool = False


def code_for(program: ProgramLike) -> Code:
    """The engines' input for ``program`` (see the module docstring)."""
    raw = bytearray(program.insns)
    symbols: dict[int, str] = {}
    for rel in program.relocations:
        if rel.kind in ("data", "kconfig"):
            struct.pack_into("<i", raw, (rel.slot + 1) * isa.INSN_SIZE + 4, rel.addend)
        if rel.kind == "kconfig":
            symbols[rel.slot] = KCONFIG
        elif rel.kind in _NAMED_KINDS:
            symbols[rel.slot] = rel.symbol

    def source_line(slot: int) -> str | None:
        found = program.source_line(slot)
        if found is None:
            return None
        file, line, text = found
        return f"{file}:{line}: {text.strip()}"

    return Code(program.name, bytes(raw), symbols, source_line)


class ObjectResolver:
    """Binds an object's references: globals and maps into ``memory``, calls from tables.

    Each global-data section is mapped once as a byte region (read only for
    ``.rodata``-like sections); each map gets a handle address that helpers
    turn back into the map with :meth:`map_at`. ``kconfig`` is the
    ``.kconfig`` area's bytes, ``ksyms`` the addresses of kernel variables.
    """

    def __init__(
        self,
        memory: Memory,
        helpers: Mapping[int, BpfFunction] | None = None,
        kfuncs: Mapping[str, BpfFunction] | None = None,
        globals: Mapping[str, GlobalLike] | None = None,
        maps: Mapping[str, object] | None = None,
        ksyms: Mapping[str, int] | None = None,
        kconfig: bytes | None = None,
    ) -> None:
        self.memory = memory
        self.helpers = dict(helpers or {})
        self.kfuncs = dict(kfuncs or {})
        self.ksyms = dict(ksyms or {})
        self.global_base: dict[str, int] = {}
        sections = dict(globals or {})
        if kconfig is not None:
            sections[KCONFIG] = Global(bytearray(kconfig), read_only=True)
        for name, section in sections.items():
            region = BytesRegion(name, section.data, writable=not section.read_only)
            self.global_base[name] = memory.map(region)
        self.map_base: dict[str, int] = {}
        self._maps: dict[int, object] = {}
        for name, bpf_map in (maps or {}).items():
            addr = memory.map(BytesRegion(f"map {name}", b""))
            self.map_base[name] = addr
            self._maps[addr] = bpf_map

    def map_at(self, addr: int) -> object:
        """The map whose handle is ``addr`` (what ``ld_imm64 map[...]`` gave the program)."""
        try:
            return self._maps[addr]
        except KeyError:
            raise BpfFault(f"{addr:#x} is not a map") from None

    def helper(self, helper_id: int) -> BpfFunction:
        if helper_id not in self.helpers:
            raise BpfLoadError("", f"helper #{helper_id} is not provided by qdisclab")
        return self.helpers[helper_id]

    def kfunc(self, name: str) -> BpfFunction:
        if name not in self.kfuncs:
            raise BpfLoadError("", f"kfunc '{name}' is not provided by qdisclab")
        return self.kfuncs[name]

    def pseudo_imm64(self, kind: int, imm: int, next_imm: int, symbol: str | None) -> int:
        table: Mapping[str, int]
        if kind == isa.BPF_PSEUDO_MAP_FD:
            table, what = self.map_base, "map"
        elif kind == isa.BPF_PSEUDO_MAP_VALUE:
            table, what = self.global_base, "global data section"
        elif kind == isa.BPF_PSEUDO_BTF_ID:
            table, what = self.ksyms, "ksym"
        else:
            raise BpfLoadError("", f"ld_imm64 with src {kind} is not produced by object loading")
        if symbol is None or symbol not in table:
            raise BpfLoadError("", f"{what} {symbol!r} is not provided")
        offset = next_imm if kind == isa.BPF_PSEUDO_MAP_VALUE else 0
        return table[symbol] + offset


def load(
    program: ProgramLike,
    resolver: ObjectResolver,
    memory: Memory,
    engine: Literal["translate", "interp"] = "translate",
    budget: int = isa.BPF_COMPLEXITY_LIMIT_INSNS,
    max_loops: int = isa.BPF_MAX_LOOPS,
    proven: Proven | None = None,
    views: StructLayouts | None = None,
    ctx_args: int = 0,
    wrap: CallbackWrap | None = None,
) -> Interpreter | Translated:
    """Link ``program`` through ``resolver`` and prepare it on ``engine``.

    ``proven``, ``views``, ``ctx_args`` and ``wrap`` specialise the translator's code
    (:class:`Translated`).
    """
    if engine == "translate":
        return Translated(
            code_for(program), resolver, memory, budget, max_loops, proven, views, ctx_args, wrap
        )
    return Interpreter(code_for(program), resolver, memory, budget, max_loops)
