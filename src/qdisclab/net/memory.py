"""The bound on the memory a world's queued packets may take (all root qdiscs together).

The kernel bounds queue memory per qdisc (fq_codel's ``memory_limit``, fq's
flow limits) and per socket, charging each packet its *truesize*: the data
plus the ``sk_buff`` and ``skb_shared_info`` around it. qdisclab charges
the same way across the whole world, so no scenario (a ``pfifo limit
1000000000`` under overload, say) can grow until the process runs out of
memory: a packet that would take the total past the limit is dropped at the
device, before the root qdisc, with reason ``queue_memory``.

The total is kept cheaply: each packet offered to a root qdisc adds its
truesize to a running total, and nothing is subtracted when packets leave,
so the total only ever over-estimates. Only when it says "over the limit" is
it recounted exactly from every root qdisc, before a packet is refused: the
packets refused are exactly those that would take the true total past the
limit. ``peak`` is the largest exact total found by a recount.

>>> memory = QueueMemory(limit=10_000)
>>> memory.fits(1500), memory.limit
(True, 10000)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qdisclab.net.device import NetDevice
    from qdisclab.sched.qdisc import Qdisc

# SKB_TRUESIZE(0) on x86-64: SKB_DATA_ALIGN(sizeof(struct sk_buff)) (256) plus
# SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) (320).
SKB_TRUESIZE_OVERHEAD = 576
DEFAULT_QUEUE_MEMORY = 1 << 30  # 1 GiB: the scenario key run.queue_memory changes it
DROP_QUEUE_MEMORY = "queue_memory"  # the world's queued packets reached run.queue_memory


def charge_of(qdisc: Qdisc) -> int:
    """Truesize of everything ``qdisc`` (a root, so its whole tree) holds."""
    return qdisc.backlog + qdisc.qlen * SKB_TRUESIZE_OVERHEAD


class QueueMemory:
    """The world's queued-packet memory: ``charged`` bytes of at most ``limit``."""

    __slots__ = ("charged", "devices", "limit", "peak")

    def __init__(
        self, limit: int = DEFAULT_QUEUE_MEMORY, devices: Iterable[NetDevice] = ()
    ) -> None:
        self.limit = limit
        self.charged = 0  # an upper bound on the truesize queued in every root qdisc
        self.peak = 0
        self.devices = devices  # every device whose root qdisc is charged

    def recount(self) -> int:
        """The exact truesize held by every root qdisc now (the running total is reset to it)."""
        total = 0
        for dev in self.devices:
            qdisc = dev.qdisc
            if qdisc is not None:
                total += charge_of(qdisc)
        self.charged = total
        if total > self.peak:
            self.peak = total
        return total

    def fits(self, length: int) -> bool:
        """Whether a packet of ``length`` bytes may be queued (recounting when in doubt)."""
        if self.charged + length + SKB_TRUESIZE_OVERHEAD <= self.limit:
            return True
        return self.recount() + length + SKB_TRUESIZE_OVERHEAD <= self.limit
