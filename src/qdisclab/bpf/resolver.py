"""How a BPF program reaches the outside: the :class:`Resolver` protocol.

Linking asks the resolver, once per call site, for the function behind a
helper id or a kfunc name, and for the value of each pseudo ``ld_imm64``
(a map, a map value address, a ksym). A function receives the running
program's :class:`CallContext` (its memory, and a way to call back into the
program for ``bpf_loop``-style callbacks) and R1–R5; it returns R0.

>>> res = TableResolver(helpers={5: lambda ctx, *a: 42})
>>> res.helper(5)(None, 0, 0, 0, 0, 0)
42
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from qdisclab.bpf.errors import BpfLoadError
from qdisclab.bpf.isa import BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_MAP_VALUE
from qdisclab.bpf.memory import Memory


class CallContext(Protocol):
    """What a helper or kfunc sees of the program calling it."""

    memory: Memory

    def call_function(
        self, address: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0
    ) -> int:
        """Run the program's function at code ``address`` (from ``ld_imm64`` pseudo func)."""
        ...


BpfFunction = Callable[[CallContext, int, int, int, int, int], int]


class Resolver(Protocol):
    """Binds a program's external references at load time.

    Each method raises :class:`~qdisclab.bpf.errors.BpfLoadError` naming the
    reference when it cannot be bound (as libbpf refuses an unknown extern).
    """

    def helper(self, helper_id: int) -> BpfFunction: ...

    def kfunc(self, name: str) -> BpfFunction: ...

    def pseudo_imm64(self, kind: int, imm: int, next_imm: int, symbol: str | None) -> int:
        """The 64-bit value of ``ld_imm64`` with ``src_reg=kind`` (not 0, not PSEUDO_FUNC)."""
        ...


class TableResolver:
    """A resolver over plain tables: helpers by id, kfuncs by name, symbols by name.

    ``symbols`` gives the value of a pseudo ``ld_imm64`` by its symbol name
    (plus ``next_imm`` for map-value kinds); tests and simple runners use it.
    """

    def __init__(
        self,
        helpers: Mapping[int, BpfFunction] | None = None,
        kfuncs: Mapping[str, BpfFunction] | None = None,
        symbols: Mapping[str, int] | None = None,
    ) -> None:
        self.helpers = dict(helpers or {})
        self.kfuncs = dict(kfuncs or {})
        self.symbols = dict(symbols or {})

    def helper(self, helper_id: int) -> BpfFunction:
        try:
            return self.helpers[helper_id]
        except KeyError:
            raise BpfLoadError("", f"unknown helper #{helper_id}") from None

    def kfunc(self, name: str) -> BpfFunction:
        try:
            return self.kfuncs[name]
        except KeyError:
            raise BpfLoadError("", f"unknown kfunc '{name}'") from None

    def pseudo_imm64(self, kind: int, imm: int, next_imm: int, symbol: str | None) -> int:
        if symbol is None or symbol not in self.symbols:
            raise BpfLoadError(
                "", f"unresolved ld_imm64 (src {kind}, imm {imm}, symbol {symbol!r})"
            )
        extra = next_imm if kind in (BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX_VALUE) else 0
        return (self.symbols[symbol] + extra) & 0xFFFF_FFFF_FFFF_FFFF
