"""``struct psched_ratecfg``: the kernel's length-to-time conversion for shapers.

tbf and htb charge a packet ``psched_l2t_ns(rate, len)`` nanoseconds, where
the length is first adjusted as the size tables of ``tc ... overhead N mpu M
linklayer atm`` say: add ``overhead``, raise to ``mpu``, and on ATM round up
to whole 48-byte cells of 53 bytes. The rate is kept as ``mult``/``shift``
(``psched_ratecfg_precompute``), so times are truncated exactly as the kernel
truncates them.

>>> r = RateCfg(1_250_000)            # 10mbit in bytes per second
>>> r.l2t_ns(1514)
1211200
>>> RateCfg(1_250_000, overhead=4, linklayer=LINKLAYER_ATM).l2t_ns(1514)
1356800
"""

from __future__ import annotations

NSEC_PER_SEC = 1_000_000_000
LINKLAYER_UNSPEC = 0
LINKLAYER_ETHERNET = 1
LINKLAYER_ATM = 2
LINKLAYER_NAMES = {LINKLAYER_UNSPEC: "unspec", LINKLAYER_ETHERNET: "ethernet", LINKLAYER_ATM: "atm"}


class RateCfg:
    """One rate with its length adjustments; ``l2t_ns(len)`` is ``psched_l2t_ns``."""

    __slots__ = ("linklayer", "mpu", "mult", "overhead", "rate_bytes_ps", "shift")

    def __init__(
        self,
        rate_bytes_ps: int,
        overhead: int = 0,
        mpu: int = 0,
        linklayer: int = LINKLAYER_ETHERNET,
    ) -> None:
        self.rate_bytes_ps = rate_bytes_ps
        self.overhead = overhead
        self.mpu = mpu
        self.linklayer = linklayer
        self.mult = 1
        self.shift = 0
        if rate_bytes_ps > 0:
            factor = NSEC_PER_SEC
            while True:
                self.mult = factor // rate_bytes_ps
                if self.mult & (1 << 31) or factor & (1 << 63):
                    break
                factor <<= 1
                self.shift += 1

    def l2t_ns(self, length: int) -> int:
        """``psched_l2t_ns``: ns to send ``length`` bytes after the size adjustments."""
        length += self.overhead
        if length < self.mpu:
            length = self.mpu
        if self.linklayer == LINKLAYER_ATM:
            length = -(-length // 48) * 53
        return (length * self.mult) >> self.shift

    def t2l(self, ns: int) -> int:
        """``psched_ns_t2l``: the length ``ns`` of time carries (tbf's largest packet)."""
        length = ns * self.rate_bytes_ps // NSEC_PER_SEC
        if self.linklayer == LINKLAYER_ATM:
            length = length // 53 * 48
        return length - self.overhead if length > self.overhead else 0
