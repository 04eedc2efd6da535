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
    pfifo = _pairs_per_s("pfifo limit 20000", 10, pairs)
    out: dict[str, Any] = {}
    for engine in ("translate", "interp"):
        kind = qdisc_kind(obj, engine=engine)
        rate = _pairs_per_s(kind, 10, pairs if engine == "translate" else max(1, pairs // 10))
        out[f"bpf_fifo_qdisc_{engine}_pairs_per_s"] = round(rate)
        out[f"bpf_fifo_qdisc_{engine}_over_pfifo"] = round(rate / pfifo, 3)
    return out


ROWS = [bpf_fifo_qdisc]
