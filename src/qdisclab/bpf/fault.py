"""The one exception a running BPF program raises: :class:`BpfFault`.

A fault is anything the kernel's verifier would have refused or the kernel
would have trapped: an out-of-bounds or null access, a write to read-only
memory, a call stack too deep, the instruction budget exhausted. It names
the program, the instruction slot and, when line info is attached, the
source line, so a report points at the C code.

>>> err = BpfFault("null pointer dereference", program="fifo_enqueue", pc=12)
>>> str(err)
'fifo_enqueue: insn 12: null pointer dereference'
"""

from __future__ import annotations

from qdisclab.errors import QdiscLabError


class BpfFault(QdiscLabError):
    """A BPF program faulted at run time.

    ``program`` and ``pc`` are filled in by the engine running the program
    when the fault comes from memory or a helper; ``source_line`` comes from
    the engine's source-line callback (BTF line info), when one is attached.
    """

    def __init__(
        self, message: str, program: str = "", pc: int = -1, source_line: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.program = program
        self.pc = pc
        self.source_line = source_line

    def __str__(self) -> str:
        where = f"{self.program or 'bpf'}: insn {self.pc}" if self.pc >= 0 else self.program
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} [{self.source_line}]" if self.source_line else text
