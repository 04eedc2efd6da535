"""The one error the object reader raises: the object cannot be loaded.

It is a :class:`~qdisclab.errors.UserError` (the CLI prints it as one line and
exits 2) whose message starts with the object's path and names the section,
symbol, type or field at fault — as libbpf's load errors do.

>>> str(BpfLoadError("fifo.bpf.o", "extern kfunc 'bpf_nope' is not provided by qdisclab"))
"fifo.bpf.o: extern kfunc 'bpf_nope' is not provided by qdisclab"
"""

from __future__ import annotations

from qdisclab.errors import UserError


class BpfLoadError(UserError):
    """An object qdisclab cannot load; ``where`` is the object's path (or a section)."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}" if where else problem)
