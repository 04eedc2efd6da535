"""The compiled BPF FIFO and FQ attached as qdiscs, against the built-in pfifo and fq.

``examples/bpf/fifo.bpf.o`` (clang-built: bpf_obj_new nodes holding the skb
in a ``__kptr``, a list under a spin lock) runs as the ``bpf_fifo`` kind
and ``examples/bpf/fq.bpf.o`` (a flow map of per-flow lists, DRR over new
and old flow lists, an rbtree of throttled flows) as ``bpf_fq``, through the
same trampolines and ownership checks as the built-ins, driven exactly as
``bench_qdiscs`` drives them (10 backlogged flows; one pair is a dequeue
and the enqueue of the same packet). ``bpf_fifo_qdisc_*_over_pfifo`` is the
issue's target ratio (translated ≥ 0.2); ``bpf_fq_qdisc_*_over_fq`` compares
the BPF FQ with the built-in fq the same way.

Each side is timed over about the same wall-clock time (the BPF qdiscs over
fewer pairs, in proportion to their speed) and the sides alternate, best of
each kept: on a busy machine a short run's best and a long run's average
would not be the same measure, and the ratio would not be the qdiscs' alone.

The wall-clock ratio is below the ratio of instructions per pair (callgrind,
pure: 0.287) because the BPF pair's instructions cost more, not because the sides
do different work: pfifo's pair runs from the L1 caches, while the BPF pair,
three times the bytecodes in two large generated functions, misses the caches
and mispredicts several times as often (docs/bpf.md, "How fast it runs").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qdisclab.bench import Budget
from qdisclab.bench.bench_qdiscs import _pairs_per_s

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "bpf"
# Rounds of both sides in turn. On the shared 2-core project machine, three rounds of
# 2,000 translated pairs gave the FIFO's ratio anywhere in 0.16-0.24 over eight runs;
# five rounds of 4,000 gave 0.22-0.24 over five.
_ROUNDS = 5
FIFO_OBJECT = EXAMPLES / "fifo.bpf.o"
FQ_OBJECT = EXAMPLES / "fq.bpf.o"


def _bpf_rows(name: str, path: Path, builtin: str, pairs: int) -> dict[str, Any]:
    """Pairs/s of the object's qdisc on both engines, and their ratio to ``builtin`` (strict)."""
    from qdisclab.bpf.bpf_qdisc import qdisc_kind
    from qdisclab.bpf.objects import load_object

    if not path.is_file():  # an installed package without the examples
        return {}
    obj = load_object(path)
    kinds = {engine: qdisc_kind(obj, engine=engine) for engine in ("translate", "interp")}
    # About as long a run as the built-in's (translated ~0.2x its speed, interpreted ~0.01x).
    counts = {"translate": max(1, pairs // 5), "interp": max(1, pairs // 100)}
    label = builtin.split()[0]
    best = dict.fromkeys((label, *kinds), 0.0)
    for _ in range(_ROUNDS):  # interleaved, so a busy machine slows both sides alike
        best[label] = max(best[label], _pairs_per_s(builtin, 10, pairs))
        for engine, kind in kinds.items():
            best[engine] = max(best[engine], _pairs_per_s(kind, 10, counts[engine]))
    out: dict[str, Any] = {}
    for engine in kinds:
        out[f"{name}_qdisc_{engine}_pairs_per_s"] = round(best[engine])
        out[f"{name}_qdisc_{engine}_over_{label}"] = round(best[engine] / best[label], 3)
    return out


def bpf_fifo_qdisc(budget: Budget) -> dict[str, Any]:
    """Pairs/s of the attached BPF FIFO on both engines, and their ratio to pfifo (strict)."""
    return _bpf_rows("bpf_fifo", FIFO_OBJECT, "pfifo limit 20000", budget.scale(20_000))


def bpf_fq_qdisc(budget: Budget) -> dict[str, Any]:
    """Pairs/s of the attached BPF FQ on both engines, and their ratio to fq (strict)."""
    return _bpf_rows("bpf_fq", FQ_OBJECT, "fq limit 20000", budget.scale(5_000))


ROWS = [bpf_fifo_qdisc, bpf_fq_qdisc]
