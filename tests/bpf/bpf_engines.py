"""What the BPF engine tests share: both engines by name, and the corpus resolver."""

from __future__ import annotations

from qdisclab.bpf.image import leaf
from qdisclab.bpf.interp import Interpreter
from qdisclab.bpf.resolver import CallContext, TableResolver
from qdisclab.bpf.translate import Translated

ENGINES = {"interp": Interpreter, "translate": Translated}


def _sum(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return r1 + r2 + r3 + r4 + r5


def _call_back(ctx: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return ctx.call_function(r1, r2)


def corpus_resolver() -> TableResolver:
    """Helper #1 sums R1–R5 (a leaf), helper #2 calls back R1(R2); two symbols resolve."""
    return TableResolver(
        helpers={1: leaf(_sum), 2: _call_back}, symbols={"counters": 0x1000, "globals": 0x2000}
    )
