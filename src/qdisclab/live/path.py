"""``LivePath``: both directions between namespaces a and b, each a ``LiveDevice``.

a → b (``forward``) is the bottleneck under test: its root qdisc is the one
asked for; b → a (``backward``, ACKs and echo replies) has its own qdisc,
the same rate and delay. Built on a ``World`` driven by a ``RealtimeScheduler``,
so the packet ledger, ``tc -s`` statistics and result rows are the ones a
simulated run has.
"""

from __future__ import annotations

import sys
from typing import Any

from qdisclab.live.device import LiveDevice
from qdisclab.net import World
from qdisclab.net.device import Channel
from qdisclab.sched import create_qdisc
from qdisclab.sim import RealtimeScheduler
from qdisclab.skb import FlowBooks

# How long a thread may hold the GIL while another waits for it. A writer thread
# back from write(2) needs the GIL for a few bytecodes before its next write;
# with CPython's default 5 ms it can wait that long behind the datapath, and the
# receiving namespace sees nothing meanwhile.
GIL_SWITCH_INTERVAL_S = 0.0005


class LivePath:
    """qdisclab between two fds: ``fd_a`` (namespace a's TUN) and ``fd_b`` (b's).

    ``rate`` in bit/s, ``delay``/``jitter`` in ns, ``loss`` a probability;
    each direction draws loss and jitter from its own seeded stream. ``l3``
    is where the IP header starts in what the fds carry (0 for TUN, 14 for
    Ethernet frames from packet sockets); ``vnet_hdr`` says the fds are TUN
    devices with ``IFF_VNET_HDR``, where ``gro`` merges what is written;
    ``mmsg`` that they are datagram sockets, read and written in batches.
    """

    def __init__(
        self,
        fd_a: int,
        fd_b: int,
        *,
        qdisc: str,
        rate: int,
        delay: int,
        reverse_qdisc: str = "pfifo",
        jitter: int = 0,
        loss: float = 0.0,
        seed: int = 1,
        names: tuple[str, str] = ("to_b", "to_a"),
        l3: int = 0,
        vnet_hdr: bool = False,
        gro: bool = True,
        mmsg: bool = False,
    ) -> None:
        self.sched = RealtimeScheduler()
        self.world = World(seed=seed, sched=self.sched)
        node = self.world.add_router("qdisclab")
        self.l3 = l3
        self.vnet_hdr = vnet_hdr
        self.gro = gro
        self.mmsg = mmsg
        self.forward = self._direction(node, names[0], fd_a, fd_b, qdisc, rate, delay, jitter, loss)
        self.backward = self._direction(
            node, names[1], fd_b, fd_a, reverse_qdisc, rate, delay, jitter, loss
        )

    def _direction(self, node: Any, name: str, in_fd: int, out_fd: int, spec: str, rate: int,
                   delay: int, jitter: int, loss: float) -> LiveDevice:  # fmt: skip
        world = self.world
        dev = world.new_device(node, name, device_class=LiveDevice)
        rng = world.rng.stream(f"live-{name}")
        books = FlowBooks(name, world.ledger)
        world.flows[name] = books
        channel = Channel(rate, delay, jitter, loss, rng)
        dev.connect_fds(in_fd, out_fd, channel, books, self.l3, self.vnet_hdr, self.gro,
                        self.mmsg)  # fmt: skip
        dev.set_qdisc(create_qdisc(spec, dev))
        return dev  # type: ignore[return-value]

    def run(self, seconds: float) -> None:
        """Forward packets for ``seconds`` of wall-clock time."""
        interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        try:
            self.sched.run(until=self.sched.clock() + int(seconds * 1e9))
        finally:
            sys.setswitchinterval(interval)

    def close(self, drain_s: float = 2.0) -> None:
        """Stop reading, then send what the qdiscs and delay lines still hold (for ``drain_s``).

        Afterwards every packet read has been written out or dropped, unless
        a qdisc still holds some when ``drain_s`` runs out (counted as held).
        """
        self.forward.disconnect()
        self.backward.disconnect()
        self.sched.run(until=self.sched.clock() + int(drain_s * 1e9))
        self.forward.close_port()
        self.backward.close_port()

    def counters(self) -> dict[str, Any]:
        """What crossed the fds per direction, with the packet books."""
        out: dict[str, Any] = {}
        for dev in (self.forward, self.backward):
            port = dev.port.writer
            out[dev.name] = {
                "read_packets": dev.read_packets,
                "read_bytes": dev.read_bytes,
                "written_packets": port.written_packets,
                "written_bytes": port.written_bytes,
                "writes": port.writes,
                "write_errors": port.write_errors,
            }
        out["conservation"] = self.world.check_conservation()
        return out
