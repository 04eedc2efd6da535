"""Operation sequences for a qdisc, sized from its real options and drawn from a seeded RNG.

A probe instance is created with the qdisc's options (the defaults, or
``--options``); its ``sch.limit`` and option values (``limit``,
``flow_limit``, ``quantum``, ``burst``) give the burst sizes (just under, at,
just over and twice each, counted as packets and as bytes of the burst's
packet length), and its time options (CoDel's ``target`` and ``interval``,
a rehash ``perturb`` ...) join the time steps, so a default limit of 127 or
1000 is filled and overflowed and an AQM's state machine is driven through
its intervals. The first sequences are fixed (fill past the limit, let time
pass, drain); the rest are random.

>>> from qdisclab.check.explore import Target
>>> shape = Shape.probe(Target.from_spec("pfifo limit 10"))
>>> 12 in shape.sizes[1000], shape.limit
(True, 10)
>>> len(list(sequences(shape, 5, seed=1, max_ops=8)))
5
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from random import Random
from typing import TYPE_CHECKING

from qdisclab.check.qdisc_run import QdiscRun
from qdisclab.check.trace import Op

if TYPE_CHECKING:
    from qdisclab.check.explore import Target

MAX_BURST = 4096  # packets in one burst at most (a larger limit is reported as not reached)
LENGTHS = (64, 576, 1000, 1500)
STEPS_NS = (1_000, 100_000, 1_000_000, 5_000_000, 20_000_000, 100_000_000, 1_000_000_000)
FLOWS = (1, 2, 4, 8, 64)
PRIOS = (0, 0, 0, 1, 2, 6, 7, 15)
TSTAMPS = (0, 0, 0, 0, 100_000, 1_000_000, 10_000_000, 50_000_000)
ECNS = (0, 0, 1, 2, 3)
_SIZE_OPTIONS = ("limit", "flow_limit", "quantum", "burst", "plimit")
_TIME_KINDS = ("time", "time64")
# How often each operation is drawn.
_WEIGHTS = {"burst": 6, "advance": 6, "enqueue": 4, "dequeue": 2, "drain": 2, "peek": 1,
            "reset": 1, "down": 1, "up": 1}  # fmt: skip


@dataclass
class Shape:
    """What the sequences are sized from: the probe instance's limit and options."""

    limit: int
    sizes: dict[int, list[int]]  # packet length -> burst sizes worth trying, ascending
    steps: list[int]  # time advances (ns), ascending
    mtu: int = 1500

    @classmethod
    def probe(cls, target: Target) -> Shape:
        """Create the qdisc once with its options and read its limit and option values."""
        q = QdiscRun(target).q
        # The device's txqueuelen too: the default limit of the fifos a classful kind creates.
        values = [q.limit, q.dev.tx_queue_len] + [q.opt.get(name) for name in _SIZE_OPTIONS]
        numbers = {v for v in values if v.__class__ is int and v > 0}
        sizes = {}
        for length in LENGTHS:
            wanted = {1, 2, 3, 8}
            for v in numbers:
                wanted |= {v - 1, v, v + 1, v + 2, v + 8, 2 * v}  # as packets
                wanted |= {v // (length + 14) + 2, v // (length + 14) + 8}  # as bytes
            sizes[length] = sorted(n for n in wanted if 1 <= n <= MAX_BURST)
        steps = set(STEPS_NS)
        for name, opt in getattr(target.cls, "options", {}).items():
            value = q.opt.get(name)
            if opt.kind in _TIME_KINDS and value.__class__ is int and 0 < value <= 10**10:
                steps |= {value, value + 1, 2 * value}
        return cls(q.limit, sizes, sorted(steps), q.dev.mtu)

    def fill(self) -> int:
        """The largest burst worth sending: past the limit, as packets."""
        return self.sizes[LENGTHS[0]][-1]


def _fixed(shape: Shape) -> list[list[Op]]:
    """Sequences every exploration starts with: fill past the limit, wait, drain."""
    big = shape.fill()
    return [
        # A second of a full queue: a shaper's long-run rate, an AQM's intervals.
        [("burst", big, 1500, 4, 0, 0, 0), ("advance", 1_000_000_000), ("drain", big)],
        [
            ("burst", big, 64, 64, 0, 0, 1),
            ("advance", 1_000_000_000),
            ("burst", big, 1500, 1, 7, 0, 2),
        ],
    ]


def _draw(rng: Random, shape: Shape) -> Op:
    name = rng.choices(list(_WEIGHTS), weights=list(_WEIGHTS.values()))[0]
    if name == "enqueue":
        length = rng.choice(LENGTHS) if rng.random() < 0.7 else rng.randint(40, 1500)
        return ("enqueue", length, rng.randint(0, 4), rng.choice(PRIOS), rng.choice((0, 0, 1, 2)),
                rng.choice(TSTAMPS), rng.choice(ECNS))  # fmt: skip
    if name == "burst":
        length = rng.choice(LENGTHS)
        return ("burst", rng.choice(shape.sizes[length]), length, rng.choice(FLOWS),
                rng.choice(PRIOS), rng.choice(TSTAMPS), rng.choice(ECNS))  # fmt: skip
    if name == "advance":
        return ("advance", rng.choice(shape.steps))
    if name == "drain":
        return ("drain", rng.choice(shape.sizes[LENGTHS[0]]))
    return (name,)


def sequences(shape: Shape, examples: int, seed: int | None, max_ops: int) -> Iterator[list[Op]]:
    """``examples`` sequences of 1..``max_ops`` operations; the same for the same seed."""
    fixed = _fixed(shape)
    rng = Random(f"qdisclab-check:{seed or 0}")
    for i in range(examples):
        if i < len(fixed):
            yield fixed[i][:max_ops]
            continue
        yield [_draw(rng, shape) for _ in range(rng.randint(1, max_ops))]
