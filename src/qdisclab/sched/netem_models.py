"""netem's loss models and delivery slots (net/sched/sch_netem.c), kept apart from the queue.

``LossState`` is ``loss_4state`` (Salsano's 4-state Markov model, tc ``loss
state p13 p31 p32 p23 p14``), ``GilbertElliott`` is ``loss_gilb_ell`` (tc
``loss gemodel p r 1-h 1-k``), ``Slots`` is netem's slotting (``slot MIN MAX
packets N bytes B``): packets leave only inside slots that open every
MIN..MAX, each carrying at most N packets and B bytes.

>>> import random
>>> model = LossState((0.0, 1.0, 0.0, 1.0, 1.0))   # p14 = 100%: every other packet lost
>>> rng = random.Random(1)
>>> [model.lost(rng) for _ in range(4)]
[True, False, True, False]
"""

from __future__ import annotations

import random
from typing import Any

INT_MAX = 0x7FFFFFFF
TX_IN_GAP_PERIOD, TX_IN_BURST_PERIOD, LOST_IN_GAP_PERIOD, LOST_IN_BURST_PERIOD = 1, 2, 3, 4


class LossState:
    """``loss_4state``: transmitted/lost in a gap or a burst period."""

    __slots__ = ("a1", "a2", "a3", "a4", "a5", "state")

    def __init__(self, probs: tuple[float, ...]) -> None:
        # get_loss_clg: a1 = p13, a2 = p31, a3 = p32, a4 = p14, a5 = p23
        p13, p31, p32, p23, p14 = probs
        self.a1, self.a2, self.a3, self.a4, self.a5 = p13, p31, p32, p14, p23
        self.state = TX_IN_GAP_PERIOD

    def lost(self, rng: random.Random) -> bool:
        rnd = rng.random()
        state = self.state
        if state == TX_IN_GAP_PERIOD:
            if rnd < self.a4:
                self.state = LOST_IN_GAP_PERIOD
                return True
            if rnd < self.a1 + self.a4:
                self.state = LOST_IN_BURST_PERIOD
                return True
        elif state == TX_IN_BURST_PERIOD:
            if rnd < self.a5:
                self.state = LOST_IN_BURST_PERIOD
                return True
        elif state == LOST_IN_BURST_PERIOD:
            if rnd < self.a3:
                self.state = TX_IN_BURST_PERIOD
            elif rnd < self.a2 + self.a3:
                self.state = TX_IN_GAP_PERIOD
            else:
                return True
        else:  # LOST_IN_GAP_PERIOD
            self.state = TX_IN_GAP_PERIOD
        return False


class GilbertElliott:
    """``loss_gilb_ell``: change state first, then lose with the state's probability."""

    __slots__ = ("bad", "h", "k1", "p", "r")

    def __init__(self, probs: tuple[float, ...]) -> None:
        self.p, self.r, one_minus_h, self.k1 = probs
        self.h = 1.0 - one_minus_h
        self.bad = False

    def lost(self, rng: random.Random) -> bool:
        if not self.bad:
            if rng.random() < self.p:
                self.bad = True
            return rng.random() < self.k1
        if rng.random() < self.r:
            self.bad = False
        return rng.random() > self.h


def loss_model(opt: dict[str, Any]) -> LossState | GilbertElliott | None:
    """The model an option dict asks for, or None for plain random loss."""
    if "loss_state" in opt:
        return LossState(opt["loss_state"])
    if "gemodel" in opt:
        return GilbertElliott(opt["gemodel"])
    return None


class Slots:
    """netem's ``slot``: when the next slot opens and what it may still carry."""

    __slots__ = ("bytes_left", "config", "draw", "packets_left", "slot_next")

    def __init__(self, config: dict[str, Any], now: int, draw: Any) -> None:
        self.config = dict(config)
        self.config["max_packets"] = config.get("max_packets") or INT_MAX
        self.config["max_bytes"] = config.get("max_bytes") or INT_MAX
        self.draw = draw  # u -> delay for a slot distribution (netem's tabledist)
        self.packets_left = self.config["max_packets"]
        self.bytes_left = self.config["max_bytes"]
        self.slot_next = now  # the first slot is open at once

    def next_slot(self, now: int, rng: random.Random) -> None:
        """``get_slot_next``."""
        c = self.config
        if c.get("dist_jitter"):
            delay = self.draw(c["dist_delay"], c["dist_jitter"], rng.random())
        else:
            delay = c["min_delay"] + int(rng.random() * (c["max_delay"] - c["min_delay"]))
        self.slot_next = now + delay
        self.packets_left = c["max_packets"]
        self.bytes_left = c["max_bytes"]

    def sent(self, length: int, now: int, rng: random.Random) -> None:
        """A packet left in this slot: close it when it is full."""
        self.packets_left -= 1
        self.bytes_left -= length
        if self.packets_left <= 0 or self.bytes_left <= 0:
            self.next_slot(now, rng)


def packet_time_ns(
    length: int, opt_rate_bits: int, overhead: int, cell: int, cell_overhead: int
) -> int:
    """``packet_time_ns``: serialisation at netem's ``rate`` with packet and cell overheads."""
    length += overhead
    if cell:
        cells = -(-length // cell)
        length = cells * (cell + cell_overhead)
    return length * 8_000_000_000 // opt_rate_bits
