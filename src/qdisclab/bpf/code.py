"""What the execution engines run: bytecode plus the names its relocations gave.

>>> code = Code("count", bytes.fromhex("b700000001000000" "9500000000000000"))
>>> code.slots
2
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from qdisclab.bpf.isa import INSN_SIZE


@dataclass(frozen=True)
class Code:
    """A program's instructions (its subprograms appended) ready to link.

    ``symbols`` maps an instruction slot to the name it refers to: the
    kfunc of a ``call`` with ``src=BPF_PSEUDO_KFUNC_CALL``, the map, global
    or ksym of a pseudo ``ld_imm64`` — what an object file's relocations say.
    ``source_line(slot)`` returns the C source line of a slot (from BTF line
    info) for fault reports, or None.
    """

    name: str
    insns: bytes
    symbols: Mapping[int, str] = field(default_factory=dict)
    source_line: Callable[[int], str | None] | None = None

    @property
    def slots(self) -> int:
        return len(self.insns) // INSN_SIZE
