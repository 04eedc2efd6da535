"""The compiled BPF FIFO attached as a qdisc, against the built-in pfifo.

``examples/bpf/fifo.bpf.o`` (clang-built: bpf_obj_new nodes holding the skb
in a ``__kptr``, a list under a spin lock) runs as the ``bpf_fifo`` kind
through the same trampolines and ownership checks as pfifo, driven exactly
as ``bench_qdiscs`` drives pfifo (10 backlogged flows; one pair is a
dequeue and the enqueue of the same packet). ``bpf_fifo_qdisc_*_over_pfifo``
is the issue's target ratio (translated ≥ 0.2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qdisclab.bench import Budget
from qdisclab.bench.bench_qdiscs import _pairs_per_s

FIFO_OBJECT = Path(__file__).resolve().parents[3] / "examples" / "bpf" / "fifo.bpf.o"


def bpf_fifo_qdisc(budget: Budget) -> dict[str, Any]:
    """Pairs/s of the attached BPF FIFO on both engines, and their ratio to pfifo (strict)."""
    from qdisclab.bpf.bpf_qdisc import qdisc_kind
    from qdisclab.bpf.objects import load_object

    if not FIFO_OBJECT.is_file():  # an installed package without the examples
        return {}
    obj = load_object(FIFO_OBJECT)
    pairs = budget.scale(20_000)
    kinds = {engine: qdisc_kind(obj, engine=engine) for engine in ("translate", "interp")}
    counts = {"translate": pairs, "interp": max(1, pairs // 10)}
    best = dict.fromkeys(("pfifo", *kinds), 0.0)
    for _ in range(2):  # interleaved, so a busy machine slows both sides alike
        best["pfifo"] = max(best["pfifo"], _pairs_per_s("pfifo limit 20000", 10, pairs))
        for engine, kind in kinds.items():
            best[engine] = max(best[engine], _pairs_per_s(kind, 10, counts[engine]))
    out: dict[str, Any] = {}
    for engine in kinds:
        out[f"bpf_fifo_qdisc_{engine}_pairs_per_s"] = round(best[engine])
        out[f"bpf_fifo_qdisc_{engine}_over_pfifo"] = round(best[engine] / best["pfifo"], 3)
    return out


ROWS = [bpf_fifo_qdisc]
