"""What the load-time verifier proved about a program's memory accesses, for the translator.

The verifier walks every path of a program with each register's type; for
each load, store or atomic it notes what the base register pointed to, and
when every path agrees the access gets one :class:`Access`:

* ``STRUCT``: a kernel struct behind a BTF pointer (``sch``, ``skb``),
  ``delta`` bytes past the struct's start (``&sch->q`` is ``sch`` + 16);
* ``BYTES``: plain bytes (the stack through a pointer, a map value, global
  data, an object from ``bpf_obj_new``);
* ``CTX``: the program's context (bytes for a struct_ops program, a struct
  view for a tc program: the attach point says which, ``ctx_bytes``).

The translator then writes each access for its one region kind (a field of
the Python object, or bytes read in place) instead of code for every kind.
A fact only chooses the fast path: the generated code still checks, at run
time, that the region is what the fact says, and takes the reference path
(with its faults) when it is not.

>>> facts = Proven({3: Access(STRUCT, "Qdisc", 0)}, ctx_bytes=True)
>>> facts.at(3).struct, facts.at(4) is None
('Qdisc', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

STRUCT, BYTES, CTX = "struct", "bytes", "ctx"


@dataclass(frozen=True, slots=True)
class Access:
    """The region one access's base register points into on every verified path."""

    kind: str
    struct: str = ""
    delta: int = 0


@dataclass(frozen=True)
class Proven:
    """A program's proven accesses by instruction slot; ``ctx_bytes``: its context is bytes."""

    accesses: Mapping[int, Access] = field(default_factory=dict)
    ctx_bytes: bool = False

    def at(self, slot: int) -> Access | None:
        """The access at ``slot`` with a context of bytes written as ``BYTES``; None if unproven."""
        found = self.accesses.get(slot)
        if found is not None and found.kind == CTX:
            return Access(BYTES) if self.ctx_bytes else None
        return found
