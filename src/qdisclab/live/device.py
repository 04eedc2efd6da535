"""``LiveDevice``: a ``NetDevice`` whose packets come from one fd and leave by another.

Reading (``on_readable``, registered with the realtime scheduler) turns every
packet waiting on the input fd into an ``SkBuff`` and hands it to the
unchanged ``NetDevice.xmit``: tcx egress hook, root qdisc, serialisation at the
channel's rate, the channel's delay line, loss and jitter. The wire ends in an
``FdPort`` instead of a peer device: when a packet has crossed the delay line
it is written to the output fd (with ECN CE written into the IP header if the
qdisc marked it). Any qdisc kind, built-in or user, works as the root.

Counters: ``read_packets``/``read_bytes`` on the device and
``written_packets``/``written_bytes`` on its port's writer are what crossed the fds;
the packet ledger balances them against drops and packets still held.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any

from qdisclab.live.gro import VNET_HDR_LEN, gro_writes, plain_writes
from qdisclab.live.packet import ip_ecn, packet_to_skb, with_ecn
from qdisclab.live.packet_socket import MmsgReader, MmsgWriter
from qdisclab.net.device import Channel, NetDevice, WireEnd
from qdisclab.skb import INET_ECN_CE, SkBuff, skb_consume

READ_BATCH = 64  # packets read per readiness event before other events get a turn
FLUSH_AT = 16  # packets a port hands its writer at once, at the latest
MERGE_AT_MOST = 64  # packets a writer takes from its queue for one round of writes
MAX_PACKET = 65535


def _as_they_are(packets: list[bytes]) -> list[tuple[bytes, int, int]]:
    return [(p, 1, len(p)) for p in packets]


class FdWriter:
    """Writes packets to ``fd`` from a thread of its own.

    A write to a TUN device runs the receiving namespace's whole input path
    (IP, TCP, waking the application) before it returns; in a thread, with
    the GIL released during the write, that kernel work runs beside
    qdisclab's datapath instead of stalling it. A TUN device opened with
    ``IFF_VNET_HDR`` (``vnet_hdr``) takes a header before each packet; with
    ``gro`` too, the packets waiting together are written through
    ``gro_writes``: a run of one flow's segments is one write. On a packet
    socket (``mmsg``) a batch is one ``sendmmsg`` call. The counters (packets and bytes as qdisclab sent them, however merged)
    belong to the writer thread and are final once ``close`` has returned.
    """

    __slots__ = (
        "fd",
        "frame",
        "mmsg",
        "put",
        "thread",
        "write_errors",
        "writes",
        "written_bytes",
        "written_packets",
    )  # fmt: skip

    def __init__(self, fd: int, vnet_hdr: bool = False, gro: bool = False,
                 mmsg: bool = False) -> None:  # fmt: skip
        self.fd = fd
        self.mmsg = MmsgWriter(fd, MERGE_AT_MOST) if mmsg else None  # sendmmsg per batch
        # what to write for a batch: (bytes, packets in it, their length) each
        self.frame = (gro_writes if gro else plain_writes) if vnet_hdr else _as_they_are
        self.written_packets = 0
        self.written_bytes = 0
        self.writes = 0  # write(2)/sendmmsg(2) calls: fewer than packets when batched or merged
        self.write_errors = 0  # the kernel refused the packet (the device's tx_errors)
        batches: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self.put = batches.put  # a list of packets, written in order
        self.thread = threading.Thread(
            target=self._loop, args=(batches,), name=f"qdisclab-fd{fd}", daemon=True
        )
        self.thread.start()

    def _loop(self, batches: queue.SimpleQueue[list[bytes] | None]) -> None:
        get, get_nowait, write, fd, frame = (batches.get, batches.get_nowait, os.write,
                                             self.fd, self.frame)  # fmt: skip
        running = True
        while running and (batch := get()) is not None:
            try:  # batches that queued up while the last one was written go out together
                while len(batch) < MERGE_AT_MOST:
                    more = get_nowait()
                    if more is None:
                        running = False
                        break
                    batch += more
            except queue.Empty:
                pass
            if self.mmsg is not None:
                sent, sent_bytes, refused, calls = self.mmsg.write(batch)
                self.writes += calls
                self.written_packets += sent
                self.written_bytes += sent_bytes
                self.write_errors += refused
                continue
            for out, count, size in frame(batch):
                self.writes += 1
                try:
                    write(fd, out)
                except OSError:
                    self.write_errors += count
                    continue
                self.written_packets += count
                self.written_bytes += size

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread."""
        if self.thread.is_alive():
            self.put(None)
            self.thread.join(timeout)


class FdPort(WireEnd):
    """The far end of a live device's wire: arriving packets go to ``fd`` by an ``FdWriter``.

    A packet's life in qdisclab ends (delivered) when it is handed to the
    writer, as a kernel packet's ends when the driver takes it. Packets are
    handed over in batches: before the scheduler waits again (``flush``), or
    every ``FLUSH_AT`` packets, so a burst wakes the writer once and can be
    merged.
    """

    __slots__ = ("l3", "pending", "put", "writer")

    def __init__(self, fd: int, l3: int = 0, vnet_hdr: bool = False, gro: bool = False,
                 mmsg: bool = False) -> None:  # fmt: skip
        super().__init__()  # in_flight: the packets on the wire towards this port
        self.l3 = l3  # where the IP header starts in a packet's bytes
        self.writer = FdWriter(fd, vnet_hdr, gro, mmsg)
        self.put = self.writer.put
        self.pending: list[bytes] = []

    def receive(self, skb: SkBuff) -> None:
        """The packet has crossed the delay line: write it out (called by ``start_xmit``)."""
        data = skb.payload
        # A qdisc marked CE (set_ce marks only ECN-capable IP packets): the wire carries it.
        if skb.ecn == INET_ECN_CE and ip_ecn(data, self.l3) != INET_ECN_CE:
            data = with_ecn(data, INET_ECN_CE, self.l3)
        pending = self.pending
        pending.append(data)
        if len(pending) >= FLUSH_AT:
            self.flush()
        skb_consume(skb)

    def flush(self) -> None:
        """Hand the packets that arrived since the last flush to the writer."""
        if self.pending:
            self.put(self.pending)
            self.pending = []

    def held_packets(self) -> int:
        return self.in_flight


class LiveDevice(NetDevice):
    """A device fed from ``in_fd`` whose wire (``channel``) ends in an ``FdPort``.

    >>> from qdisclab.net import World                       # doctest: +SKIP
    >>> dev = world.new_device(node, "ab", device_class=LiveDevice)
    >>> dev.connect_fds(in_fd, out_fd, Channel(10_000_000, 10_000_000), books)
    """

    __slots__ = ("books", "in_fd", "l3", "mmsg", "port", "read_bytes", "read_packets", "vnet_hdr")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_fd = -1
        self.port: FdPort | None = None
        self.books: Any = None
        self.read_packets = 0
        self.read_bytes = 0
        self.l3 = 0
        self.vnet_hdr = 0  # bytes of virtio_net_hdr before each packet read (IFF_VNET_HDR)
        self.mmsg: MmsgReader | None = None  # datagram sockets: batched reads
        # The fd carries whole packets: an Ethernet frame read from a packet socket
        # already counts its header in len (l3), an IP packet from TUN has none.
        self.hard_header_len = 0

    def connect_fds(self, in_fd: int, out_fd: int, channel: Channel, books: Any,
                    l3: int = 0, vnet_hdr: bool = False, gro: bool = False,
                    mmsg: bool = False) -> None:  # fmt: skip
        """Read packets from ``in_fd``; deliver them to ``out_fd`` through ``channel``.

        ``books`` is the ``FlowBooks`` every packet read here is booked on;
        ``l3`` where the IP header starts (0: TUN's IP packets, ``ETH_HLEN``:
        Ethernet frames, whose header then counts in the length qdiscs see,
        as on a kernel Ethernet device). ``vnet_hdr``: both fds are TUN devices
        opened with ``IFF_VNET_HDR`` (every packet read starts with the header,
        every write needs one); ``gro`` then merges runs of segments on output.
        ``mmsg``: the fds are datagram sockets (packet sockets), read with
        ``recvmmsg`` and written with ``sendmmsg``, a batch per call.
        """
        self.in_fd = in_fd
        self.l3 = l3
        self.vnet_hdr = VNET_HDR_LEN if vnet_hdr else 0
        self.mtu += l3
        self.mmsg = MmsgReader(in_fd, READ_BATCH) if mmsg else None
        self.port = FdPort(out_fd, l3, vnet_hdr, vnet_hdr and gro, mmsg)
        self.books = books
        self.attach_peer(self.port, channel)
        self.world.packet_holders.append(self.port)
        self.sched.add_reader(in_fd, self.on_readable)
        self.sched.before_wait.append(self.port.flush)

    def disconnect(self) -> None:
        """Stop reading ``in_fd`` (the packets already inside are still accounted)."""
        if self.in_fd >= 0:
            self.sched.remove_reader(self.in_fd)
            self.in_fd = -1

    def close_port(self) -> None:
        """Finish writing to the output fd (after the last packet has left the wire)."""
        if self.port is not None:
            self.port.flush()
            self.port.writer.close()

    def on_readable(self, _arg: object) -> None:
        """Read up to ``READ_BATCH`` packets and send each through the egress pipeline."""
        if self.mmsg is not None:  # a packet socket: one recvmmsg for what is waiting
            for data in self.mmsg.read():
                self._ingest(data)
            return
        fd = self.in_fd
        vnet_hdr = self.vnet_hdr
        read = os.read
        for _ in range(READ_BATCH):
            try:
                data = read(fd, MAX_PACKET)
            except BlockingIOError:
                break
            if vnet_hdr:
                data = data[vnet_hdr:]  # no offloads were offered, so the header says nothing
            if not data:
                break
            self._ingest(data)

    def _ingest(self, data: bytes) -> None:
        # stamped as read: an idle wire sends it at once (bypass), not after the batch
        books = self.books
        skb = packet_to_skb(data, self.sched.advance(), books, self.l3)
        books.book_sent(skb)
        self.read_packets += 1
        self.read_bytes += skb.len
        self.xmit(skb)
