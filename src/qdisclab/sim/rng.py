"""Named random streams derived from one run seed.

Each consumer (a traffic source, a lossy link, a netem instance) draws from its
own stream, seeded from ``(run seed, stream name)`` through SHA-256, so adding
a source never changes the numbers another source sees.

>>> streams = RngStreams(7)
>>> a = streams.stream("udp:flow1").random()
>>> RngStreams(7).stream("udp:flow1").random() == a
True
"""

from __future__ import annotations

import hashlib
import random


class RngStreams:
    """Factory of independent, reproducible ``random.Random`` streams."""

    __slots__ = ("_streams", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._streams: dict[str, random.Random] = {}

    def stream(self, name: str) -> random.Random:
        """The stream called ``name`` (created on first use, then shared)."""
        rng = self._streams.get(name)
        if rng is None:
            digest = hashlib.sha256(f"{self.seed}\x00{name}".encode()).digest()
            rng = random.Random(int.from_bytes(digest[:16], "big"))
            self._streams[name] = rng
        return rng

    def derive_int(self, name: str, bits: int = 32) -> int:
        """A reproducible integer for ``name`` (e.g. a hash seed), not consuming a stream."""
        digest = hashlib.sha256(f"{self.seed}\x01{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big") & ((1 << bits) - 1)
