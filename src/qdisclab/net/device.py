"""Network devices and the egress/ingress pipeline.

Egress (``xmit``, the kernel's ``dev_queue_xmit``): tcx egress hook → root
qdisc ``enqueue`` → when the device is idle it pulls with ``dequeue``
(``qdisc_run``), serialises the packet at the channel's rate, and the channel
delivers it to the peer after the propagation delay (and loss, if any).

Ingress (``receive``): tcx ingress hook → ingress qdisc (optional) → the
node's stack (local delivery or forwarding).

Hot-path notes: a device schedules a "transmit done" event only when there is
something to send next or something arrives while it is busy; an idle,
uncongested device costs one event per packet (the arrival at the peer).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, cast

from mypy_extensions import mypyc_attr

from qdisclab.net.channel import Channel as Channel  # re-exported: where wires were found
from qdisclab.net.memory import DROP_QUEUE_MEMORY, SKB_TRUESIZE_OVERHEAD
from qdisclab.net.tracepoints import NET_DEV_RECEIVE, NET_DEV_XMIT
from qdisclab.sched.constants import NET_XMIT_DROP, NET_XMIT_SUCCESS
from qdisclab.sim import RealtimeScheduler, Scheduler
from qdisclab.sim.scheduler import Event, Line, next_seq, push_entry, replace_entry
from qdisclab.sim.tracepoint import ProbeSiteProxy, tracepoint
from qdisclab.skb import (
    DROP_DEVICE_DOWN,
    DROP_MTU,
    DROP_TCX,
    ETH_HLEN,
    SkBuff,
    skb_drop,
)

if TYPE_CHECKING:
    from qdisclab.net.node import Node
    from qdisclab.net.world import World
    from qdisclab.sched.qdisc import Qdisc

#: The clock and event queue a world's devices run on: simulated, or the wall clock
#: of a live run (the same interface; named as a union so compiled code calls the
#: simulated scheduler's methods directly).
DeviceScheduler = Scheduler | RealtimeScheduler

#: A tc hook in a device's egress or ingress slot: ``hook(skb) -> HOOK_*``. The tcx
#: layer installs ``TcxHook.handle`` there while a direction has programs.
TcHook = Callable[[SkBuff], int]

# Verdicts a hook returns to the device (the tcx layer maps program results to these).
HOOK_PASS = 0
HOOK_DROP = 2
HOOK_STOLEN = 4  # the hook took the packet (redirected, queued elsewhere)

ETH_DATA_LEN = 1500
DEFAULT_TXQUEUELEN = 1000


@mypyc_attr(allow_interpreted_subclasses=True)
class WireEnd:
    """Where a channel hands a packet after the propagation delay: a device's next hop.

    A device's next hop is the peer device at the other end of its link; a live
    device's wire ends in a port that writes to a file descriptor instead.
    """

    __slots__ = ("rx_line",)

    def __init__(self) -> None:
        # The packets on the wire towards this end, in arrival order (the channel's
        # line, set when a device is wired to this end; empty until then).
        self.rx_line: Line = deque()

    @property
    def in_flight(self) -> int:
        """Packets on the wire towards this end."""
        return len(self.rx_line)

    def receive(self, skb: SkBuff) -> None:
        """The packet has crossed the wire (the channel's delay has passed)."""
        raise NotImplementedError


@mypyc_attr(allow_interpreted_subclasses=True)
class NetDevice(WireEnd):
    """A network interface on a node: MTU, txqueuelen, root qdisc slot, hook points.

    A packet's path through a device, by the slots' types: ``xmit`` runs the
    ``egress_hook`` (a :data:`TcHook`), then the root ``qdisc`` (a sched
    ``Qdisc``); ``start_xmit`` serialises at the ``channel``'s rate and hands the
    packet to the ``next_hop`` (the peer device, a :class:`WireEnd`), whose
    ``receive`` runs its ``ingress_hook`` and gives it to its ``node``.
    """

    #: Link-layer header bytes ``xmit`` counts in ``skb.len`` (Ethernet; a kind whose
    #: transmit adds none, as veth and netkit here or TUN, says 0).
    HARD_HEADER_LEN: ClassVar[int] = ETH_HLEN
    #: Every packet counted in ``tx_packets`` went onto this device's channel (or was
    #: lost on it), as with the transmit paths here; a kind whose ``xmit`` hands packets
    #: over otherwise (veth's backlog, netkit) says False. The peer's receive counters
    #: are derived from it (see ``rx_packets``).
    WIRE_TX: ClassVar[bool] = True

    # Set by ``attach_peer`` when the device is wired (unset before: a device is
    # wired before it transmits, so the per-packet path needs no None test).
    channel: Channel  # the wire out: rate, propagation delay, loss, jitter
    next_hop: WireEnd  # where the wire ends: the peer device (or a live port)

    __slots__ = (
        "_active",
        "_egress_hook",
        "_ingress_hook",
        "_ingress_qdisc",
        "_mtu",
        "_probe_site",
        "_tx_event",
        "addr",
        "busy_until",
        "channel",
        "event_heap",
        "hard_header_len",
        "hash_seed",
        "ifindex",
        "name",
        "next_hop",
        "node",
        "ownership_policy",
        "peer",
        "prefixlen",
        "qdisc",
        "queue_memory",
        "rx_channel",
        "rx_direct_bytes",
        "rx_direct_packets",
        "rx_plain",
        "sched",
        "tp_receive",
        "tp_xmit",
        "traced_receive",
        "traced_xmit",
        "tx_bypass",
        "tx_bytes",
        "tx_done_cb",
        "tx_frame_limit",
        "tx_packets",
        "tx_plain",
        "tx_queue_len",
        "wire_plain",
        "world",
    )

    def __init__(
        self,
        world: World,
        node: Node,
        name: str,
        ifindex: int,
        mtu: int = ETH_DATA_LEN,
        tx_queue_len: int = DEFAULT_TXQUEUELEN,
    ) -> None:
        super().__init__()
        self.world = world
        self.sched = world.sched
        self.event_heap = self.sched.heap  # per-packet events are pushed here directly
        self.tp_xmit = tracepoint(self.sched, NET_DEV_XMIT)
        self.tp_receive = tracepoint(self.sched, NET_DEV_RECEIVE)
        # Stands for the device in its tracepoints' (weak) site sets.
        self._probe_site: ProbeSiteProxy[NetDevice] = ProbeSiteProxy(self)
        self.tp_xmit.add_site(self._probe_site)
        self.tp_receive.add_site(self._probe_site)
        self.node = node
        self.name = name
        self.ifindex = ifindex
        self._mtu = mtu
        self.hard_header_len = self.HARD_HEADER_LEN
        self.tx_queue_len = tx_queue_len
        self.queue_memory = world.queue_memory  # shared by every device of the world
        self.hash_seed = world.hash_seed
        self.ownership_policy = world.policy
        self.qdisc: Qdisc | None = None  # the root: enqueue -> NET_XMIT_*, dequeue, bypass
        self._ingress_qdisc: Qdisc | None = None
        self._egress_hook: TcHook | None = None  # tcx egress, or None
        self._ingress_hook: TcHook | None = None  # tcx ingress, or None
        self.peer: NetDevice | None = None  # the device at the link's other end
        self.tx_done_cb: Callable[[object], None] = self._tx_done
        self.addr = 0
        self.prefixlen = 0
        self._active = True
        # One flag per direction for the common case (up, no hook, no ingress
        # qdisc; on receive, nothing traced either), and for transmit the frame
        # limit and wire flag below, kept current by the property setters, by
        # attach_peer, by the channel's loss and jitter setters and by rebind_probes.
        self.rebind_probes()  # sets tx_plain, rx_plain, tx_frame_limit and wire_plain
        self.busy_until = 0  # the wire is busy until this time
        # The pending "transmit done" entry (an Event, kept as made: see Line), or None.
        self._tx_event: object = None
        self.tx_packets = 0
        self.tx_bytes = 0
        # Received other than off the wire (a veth backlog, netkit's direct hand-over):
        # whoever delivers so counts here. The wire's share is derived (``rx_packets``).
        self.rx_direct_packets = 0
        self.rx_direct_bytes = 0
        self.rx_channel: Channel | None = None  # the wire towards this device, if from one

    # -- state the fast paths depend on ----------------------------------------
    def rebind_probes(self) -> None:
        """Listeners came or went: the per-packet test is one plain flag per tracepoint."""
        self.traced_xmit = bool(self.tp_xmit.listeners)
        self.traced_receive = bool(self.tp_receive.listeners)
        self._update_plain()

    def _update_plain(self) -> None:
        self.tx_plain = self._active and self._egress_hook is None
        self.rx_plain = (
            self._active
            and self._ingress_hook is None
            and self._ingress_qdisc is None
            and not self.traced_receive
        )
        # Unwired (``attach_peer`` not run yet) the channel slot is unset.
        channel: Channel | None = getattr(self, "channel", None)
        # The largest frame ``xmit`` passes with one comparison: after skb_push_mac a
        # frame's mac_len is this device's header or more (a redirect keeps the one it
        # had), so ``len <= mtu + hard_header_len`` implies the MTU test passes. -1
        # sends every packet through the full checks: not plain, or not wired yet.
        self.tx_frame_limit = (
            self._mtu + self.hard_header_len if self.tx_plain and channel is not None else -1
        )
        # Serialisation needs no test of its own: nothing traces a transmit, the wire
        # neither loses nor jitters, and its rate is a whole number of ns per byte.
        self.wire_plain = (
            channel is not None
            and not self.traced_xmit
            and not channel.impaired
            and channel.ns_per_byte != 0
        )
        # A bypass past an empty root is two counters, a sojourn noted and the plain
        # serialisation: the root may be bypassed (TCQ_F_CAN_BYPASS), no tracepoint
        # watches its bypass, the wire is plain. The qdisc layer calls refresh_tx_path
        # when either of its flags changes.
        qdisc = self.qdisc
        self.tx_bypass = (
            self.wire_plain and qdisc is not None and qdisc.can_bypass and qdisc.bypass_unwatched
        )

    def refresh_tx_path(self) -> None:
        """Something ``xmit``'s precomputed flags depend on changed: recompute them.

        The channel's loss and jitter setters call it, the qdisc layer when a qdisc's
        ``can_bypass`` or ``bypass_unwatched`` changes; so do the device's own setters.
        """
        self._update_plain()

    @property
    def mtu(self) -> int:
        """The largest packet (without the link-layer header) the device transmits."""
        return self._mtu

    @mtu.setter
    def mtu(self, value: int) -> None:
        self._mtu = value
        self._update_plain()

    @property
    def active(self) -> bool:
        """Administratively up (``IFF_UP``)."""
        return self._active

    @active.setter
    def active(self, value: bool) -> None:
        self._active = value
        self._update_plain()

    @property
    def egress_hook(self) -> TcHook | None:
        """``hook(skb) -> HOOK_*`` run before the root qdisc (tcx egress), or None."""
        return self._egress_hook

    @egress_hook.setter
    def egress_hook(self, hook: TcHook | None) -> None:
        self._egress_hook = hook
        self._update_plain()

    @property
    def ingress_hook(self) -> TcHook | None:
        """``hook(skb) -> HOOK_*`` run on receive (tcx ingress), or None."""
        return self._ingress_hook

    @ingress_hook.setter
    def ingress_hook(self, hook: TcHook | None) -> None:
        self._ingress_hook = hook
        self._update_plain()

    @property
    def ingress_qdisc(self) -> Qdisc | None:
        """The qdisc received packets wait in before the stack, or None."""
        return self._ingress_qdisc

    @ingress_qdisc.setter
    def ingress_qdisc(self, qdisc: Qdisc | None) -> None:
        self._ingress_qdisc = qdisc
        self._update_plain()

    # -- receive counters -------------------------------------------------------
    @property
    def rx_packets(self) -> int:
        """Packets received: off the wire, and handed over otherwise (``rx_direct_packets``)."""
        return self.rx_direct_packets + self._wire_arrivals()[0]

    @property
    def rx_bytes(self) -> int:
        """Bytes received, as ``rx_packets`` counts them (each packet's length on the wire)."""
        return self.rx_direct_bytes + self._wire_arrivals()[1]

    def _wire_arrivals(self) -> tuple[int, int]:
        # Packets and bytes that have arrived off the wire: what was put on it, less
        # what it lost and what is still on it. Derived when read, so an arrival costs
        # no counter stores (nothing on the per-packet path reads them).
        channel = self.rx_channel
        if channel is None:
            return 0, 0
        packets = channel.sent_packets - channel.lost_packets
        nbytes = channel.sent_bytes - channel.lost_bytes
        sender = channel.sender
        if sender is not None and sender.WIRE_TX:
            packets += sender.tx_packets
            nbytes += sender.tx_bytes
        for entry in self.rx_line:
            packets -= 1
            nbytes -= cast(SkBuff, cast(Event, entry)[3]).len
        return packets, nbytes

    # -- wiring and the qdisc slot ------------------------------------------------
    def attach_peer(self, peer: WireEnd, channel: Channel) -> None:
        """Wire this device to ``peer`` through ``channel`` (one direction of a link)."""
        self.next_hop = peer
        peer.rx_line = channel.line
        channel.on_impaired_change = self.refresh_tx_path
        if isinstance(peer, NetDevice):
            self.peer = peer
            peer.rx_channel = channel
            channel.sender = self
            channel.attach(self.sched, peer.receive, takes=True)  # it takes arrivals off the line
        else:
            self.peer = None
            channel.attach(self.sched, peer.receive)
        self.channel = channel
        self._update_plain()

    def set_qdisc(self, qdisc: Qdisc) -> Qdisc:
        """Graft ``qdisc`` as the root; the old root is destroyed (its packets freed)."""
        old = self.qdisc
        self.qdisc = qdisc
        qdisc.on_fault = self._replace_faulty
        self._update_plain()
        if old is not None:
            old.destroy()
        return qdisc

    def _replace_faulty(self, faulty: Qdisc) -> None:
        from qdisclab.sched import create_qdisc

        replacement = create_qdisc("pfifo", self)
        replacement.on_fault = self._replace_faulty
        self.qdisc = replacement
        self._update_plain()
        self.world.faults.append((self.name, faulty.kind, faulty.fault or ""))

    # -- egress ---------------------------------------------------------------
    def xmit(self, skb: SkBuff) -> int:
        """``dev_queue_xmit``: hooks, then the root qdisc; returns the qdisc's NET_XMIT_*."""
        if not skb.mac_len:  # skb_push_mac, inlined: the tc hooks, qdisc and wire see the frame
            skb.len += self.hard_header_len  # (a redirect keeps the header already counted)
            skb.mac_len = self.hard_header_len
        length = skb.len
        if length > self.tx_frame_limit:  # not plain, or maybe past the MTU: the full checks
            ret = self.egress_checks(skb)
            if ret is not None:
                return ret
            length = skb.len
        qdisc = self.qdisc
        assert qdisc is not None, "a transmitting device has a root qdisc"
        now = self.sched.now
        idle = now >= self.busy_until
        if idle and not qdisc.qlen:
            if self.tx_bypass:
                # sch_direct_xmit past an empty fifo no tracepoint watches: counted as
                # sent by the qdisc (its sojourn of 0 noted if a log is kept), and
                # start_xmit inlined for a plain wire (a call and the tests
                # refresh_tx_path folded into tx_bypass less per packet past an idle
                # device); the empty qdisc needs no "transmit done" event
                qdisc.packets += 1
                qdisc.bytes += length
                log = qdisc.sojourn
                if log is not None:
                    log.bypassed(now)
                channel = self.channel
                done = now + length * channel.ns_per_byte
                self.busy_until = done
                self.tx_packets += 1
                self.tx_bytes += length
                line = channel.line  # channel.send, inlined
                entry: object = (done + channel.delay_ns, next_seq(), channel.arrive_cb, skb)
                if not line:
                    push_entry(self.event_heap, entry)
                line.append(entry)  # (made once: see Line)
                return NET_XMIT_SUCCESS
            if qdisc.can_bypass:  # traced, or the wire is not plain: the general path
                qdisc.bypass(skb)
                self.start_xmit(skb)
                return NET_XMIT_SUCCESS
        # Charge the packet's truesize to the world's queue memory before the qdisc sees
        # it (see net/memory.py: the running total only over-estimates, and is recounted
        # exactly before a packet is refused).
        memory = self.queue_memory
        charged = memory.charged + length + SKB_TRUESIZE_OVERHEAD
        if charged > memory.limit:
            if not memory.fits(length):
                skb_drop(skb, DROP_QUEUE_MEMORY, self.sched.now)
                return NET_XMIT_DROP
            charged = memory.charged + length + SKB_TRUESIZE_OVERHEAD
        memory.charged = charged
        ret = qdisc.enqueue(skb)
        if idle:
            root = self.qdisc  # qdisc_run, inlined (a fault may have replaced the root)
            assert root is not None
            head = root.dequeue()
            if head is not None:
                self.start_xmit(head)
        elif self._tx_event is None:
            self._tx_event = self.sched.call_at(self.busy_until, self.tx_done_cb, None)
        return ret

    def egress_checks(self, skb: SkBuff) -> int | None:
        """What ``xmit`` checks before the qdisc: the prologue (if not plain), then the MTU.

        Returns NET_XMIT_* when the packet goes no further, None when it continues.
        """
        if not self.tx_plain:
            ret = self.egress_prologue(skb)
            if ret is not None:
                return ret
        if skb.len - skb.mac_len > self._mtu:
            skb_drop(skb, DROP_MTU, self.sched.now)
            return NET_XMIT_DROP
        return None

    def egress_prologue(self, skb: SkBuff) -> int | None:
        """The part of ``__dev_queue_xmit`` before the driver: device down, tcx egress.

        Returns NET_XMIT_* when the packet goes no further here (dropped, or
        taken by the hook), None when it continues to the qdisc or driver.
        Device kinds without a qdisc path (veth, netkit) call it first too.
        """
        if not self._active:
            skb_drop(skb, DROP_DEVICE_DOWN, self.sched.now)
            return NET_XMIT_DROP
        hook = self._egress_hook
        if hook is not None:
            verdict = hook(skb)
            if verdict:
                if verdict == HOOK_DROP:
                    skb_drop(skb, DROP_TCX, self.sched.now)
                    return NET_XMIT_DROP
                return NET_XMIT_SUCCESS  # stolen: redirected or queued elsewhere
        return None

    def qdisc_run(self) -> None:
        """Start transmitting the next packet if the wire is idle (``qdisc_restart``)."""
        qdisc = self.qdisc
        assert qdisc is not None, "a transmitting device has a root qdisc"
        skb = qdisc.dequeue()
        if skb is not None:
            self.start_xmit(skb)
        # else: empty, or throttled: the watchdog will netif_schedule

    def start_xmit(self, skb: SkBuff) -> None:
        """Serialise ``skb`` onto the wire now; the next hop receives it after the delay."""
        now = self.sched.now
        channel = self.channel
        qdisc = self.qdisc
        assert qdisc is not None, "a transmitting device has a root qdisc"
        length = skb.len
        ns_per_byte = channel.ns_per_byte
        done = now + (
            length * ns_per_byte if ns_per_byte else length * 8_000_000_000 // channel.rate_bps
        )
        self.busy_until = done
        self.tx_packets += 1
        self.tx_bytes += length
        if self.traced_xmit:
            self.tp_xmit.emit(now, self, skb)
        heap = self.event_heap
        if qdisc.qlen and self._tx_event is None:
            tx_event: object = (done, next_seq(), self.tx_done_cb, None)  # call_at, inlined
            push_entry(heap, tx_event)
            self._tx_event = tx_event
        arrival = done + channel.delay_ns
        if channel.impaired:  # loss or jitter configured: one flag on the common path
            arrival = channel.impaired_arrival(skb, arrival, now)
            if arrival < 0:
                return
        line = channel.line  # channel.send, inlined
        entry: object = (arrival, next_seq(), channel.arrive_cb, skb)  # made once (see Line)
        if not line:
            push_entry(heap, entry)
        line.append(entry)

    def _tx_done(self, _arg: object) -> None:
        self._tx_event = None
        if not self._active:
            return
        if self.sched.now < self.busy_until:  # woken early (e.g. a watchdog started a packet)
            self._tx_event = self.sched.call_at(self.busy_until, self.tx_done_cb, None)
            return
        qdisc = self.qdisc
        assert qdisc is not None, "a transmitting device has a root qdisc"
        skb = qdisc.dequeue()  # qdisc_run, inlined: one event per packet at a busy device
        if skb is None:
            return
        if not self.wire_plain:
            self.start_xmit(skb)
            return
        # start_xmit, inlined for a plain wire (nothing traced, no loss or jitter, whole
        # ns per byte): a call less per packet at a busy device
        now = self.sched.now
        channel = self.channel
        length = skb.len
        done = now + length * channel.ns_per_byte
        self.busy_until = done
        self.tx_packets += 1
        self.tx_bytes += length
        heap = self.event_heap
        root = self.qdisc  # the dequeue may have replaced a faulty root
        assert root is not None
        if root.qlen and self._tx_event is None:
            tx_event: object = (done, next_seq(), self.tx_done_cb, None)  # call_at, inlined
            replace_entry(heap, tx_event)  # in this one's place
            self._tx_event = tx_event
        line = channel.line  # channel.send, inlined
        entry: object = (done + channel.delay_ns, next_seq(), channel.arrive_cb, skb)
        if not line:
            push_entry(heap, entry)
        line.append(entry)  # (made once: see Line)

    def netif_schedule(self) -> None:
        """``__netif_schedule``: the watchdog asks for another dequeue."""
        if not self._active:
            return
        if self.sched.now >= self.busy_until:
            self.qdisc_run()
        elif self._tx_event is None:
            self._tx_event = self.sched.call_at(self.busy_until, self.tx_done_cb, None)

    # -- ingress ----------------------------------------------------------------
    def receive(self, skb: SkBuff) -> None:
        """A packet arrives from the wire (``__netif_receive_skb``): the head of ``rx_line``."""
        line = self.rx_line  # Channel.arrive, inlined: the next one on the wire is due next
        line.popleft()
        if line:
            replace_entry(self.event_heap, line[0])  # in this arrival's place
        # (rx_packets and rx_bytes count this packet: it has left the line)
        if self.rx_plain:
            skb.dev = self
            skb.iif = self.ifindex
            node = self.node
            dst = skb.dst
            if dst in node.addresses:
                # Node.receive's local delivery, inlined for a socket bound by port (a
                # call less, and none through the transport's demultiplexer).
                skb.len -= skb.mac_len  # skb_pull_mac, inlined
                skb.mac_len = 0
                rx = node.port_rx.get(skb.dport << 8 | skb.protocol)  # port_key, inlined
                if rx is not None:
                    rx(skb)
                else:
                    node.deliver_by_protocol(skb)
                return
            if node.forwarding:
                # Node.receive's forwarding, inlined for a router's common case (a call
                # less per hop): TTL left, a cached route, the same link-layer header
                # out. Anything else takes the full path below.
                ttl = skb.ttl
                if ttl > 1:
                    out = node.route_cache.get(dst)
                    if out is not None and out.hard_header_len == skb.mac_len:
                        skb.ttl = ttl - 1
                        out.xmit(skb)
                        return
            node.receive(skb, self)
            return
        if self.traced_receive:
            self.tp_receive.emit(self.sched.now, self, skb)
        self.deliver(skb)

    def deliver(self, skb: SkBuff) -> None:
        """Run the ingress pipeline for ``skb`` as if it arrived on this device."""
        if not self._active:
            skb_drop(skb, DROP_DEVICE_DOWN, self.sched.now)
            return
        skb.dev = self
        skb.iif = self.ifindex
        hook = self._ingress_hook
        if hook is not None:
            verdict = hook(skb)
            if verdict:
                if verdict == HOOK_DROP:
                    skb_drop(skb, DROP_TCX, self.sched.now)
                return
        ingress_q = self._ingress_qdisc
        if ingress_q is not None:
            ingress_q.enqueue(skb)
            ingress_q.dev.netif_schedule()
            return
        self.node.receive(skb, self)

    def set_ingress_qdisc(self, spec: str | None) -> Qdisc | None:
        """Queue received packets in a qdisc before the stack (``None`` removes it)."""
        from qdisclab.sched import TC_H_INGRESS, create_qdisc

        old = self.ingress_qdisc
        self.ingress_qdisc = None
        if spec is not None:
            port = IngressPort(self)
            self.ingress_qdisc = create_qdisc(spec, port, parent=TC_H_INGRESS)
        if old is not None:
            old.destroy()
        return self.ingress_qdisc

    # -- administration ---------------------------------------------------------
    def set_down(self) -> None:
        """``dev_deactivate``: stop transmitting and reset the qdiscs (spec: reset on down)."""
        self.active = False
        if self._tx_event is not None:
            self.sched.cancel(cast(Event, self._tx_event))
            self._tx_event = None
        if self.qdisc is not None:
            self.qdisc.reset()
        if self._ingress_qdisc is not None:
            self._ingress_qdisc.reset()

    def set_up(self) -> None:
        self.active = True
        self.netif_schedule()

    def held_packets(self) -> int:
        """Packets this device holds: in its qdiscs and on the wire towards it."""
        held = self.in_flight
        if self.qdisc is not None:
            held += self.qdisc.qlen
        if self._ingress_qdisc is not None:
            held += self._ingress_qdisc.qlen
        return held

    def __repr__(self) -> str:
        return f"<NetDevice {self.node.name}/{self.name} ifindex {self.ifindex}>"


class IngressPort:
    """The "device" an ingress qdisc sees: dequeuing hands packets to the stack.

    There is no wire to serialise on, so a wake-up drains every packet the
    qdisc releases; a non-work-conserving ingress qdisc arms its watchdog,
    which calls ``netif_schedule`` here.
    """

    __slots__ = ("dev", "hash_seed", "mtu", "name", "ownership_policy", "sched", "tx_queue_len")

    def __init__(self, dev: NetDevice) -> None:
        self.dev = dev
        self.sched = dev.sched
        self.name = f"{dev.name}(ingress)"
        self.mtu = dev.mtu
        self.tx_queue_len = dev.tx_queue_len
        self.hash_seed = dev.hash_seed
        self.ownership_policy = dev.ownership_policy

    @property
    def active(self) -> bool:
        return self.dev.active

    def netif_schedule(self) -> None:
        dev = self.dev
        q = dev.ingress_qdisc
        while q is not None and (skb := q.dequeue()) is not None:
            dev.node.receive(skb, dev)
