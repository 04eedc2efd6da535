"""Per-node TCP: demultiplexing, listeners, ``connect``/``accept`` (the IPPROTO_TCP handler).

>>> from qdisclab.net import World
>>> w = World(seed=1); a = w.add_host("A"); b = w.add_host("B")
>>> _ = w.connect(a, b, "10mbit", "1ms"); w.build_routes()
>>> lst = TcpStack.of(b).listen(5001)
>>> sk = TcpStack.of(a).connect(b.addr, 5001, "x")
>>> w.run(100_000_000); sk.state, len(lst.accepted)
(1, 1)
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from qdisclab.errors import KernelError
from qdisclab.skb import DROP_NO_SOCKET, IPPROTO_TCP, SkBuff, skb_consume, skb_drop
from qdisclab.tcp.header import TCPHDR_ACK, TCPHDR_SYN, TcpHdr
from qdisclab.tcp.sk_storage import sk_storage_clone, sk_storage_free
from qdisclab.tcp.sock import TcpSock

if TYPE_CHECKING:
    from qdisclab.net.node import Node
    from qdisclab.tcp.cgroup import Cgroup
    from qdisclab.tcp.sock_base import SockOpsTarget
    from qdisclab.tcp.storage_core import LocalStorage
    from qdisclab.tcp.storage_inline import InlineArea

    OnAccept = Callable[[TcpSock], object]
    OnData = Callable[[TcpSock, int], object]


class TcpListener:
    """A listening socket: SYNs create child sockets; ``accepted`` lists established ones."""

    __slots__ = (
        "accepted",
        "cc",
        "ecn",
        "on_accept",
        "port",
        "sk_bpf_inline",
        "sk_bpf_storage",
        "sk_omem_alloc",
        "sk_refcnt",
        "sock_ops",
        "stack",
        "watchers",
    )

    def __init__(self, stack: TcpStack, port: int, cc: str | None, ecn: bool,
                 on_accept: OnAccept | None) -> None:  # fmt: skip
        self.stack = stack
        self.port = port
        self.cc = cc
        self.ecn = ecn
        self.on_accept = on_accept
        self.accepted: list[TcpSock] = []
        self.sock_ops: SockOpsTarget | Cgroup | None = None
        self.watchers: dict[int, OnData] = {}  # client port -> on_data callback for the child
        # Socket local storage of the listener; BPF_F_CLONE values are copied to children.
        self.sk_bpf_storage: LocalStorage | None = None
        self.sk_bpf_inline: InlineArea | None = None
        self.sk_omem_alloc = 0
        self.sk_refcnt = 1

    def close(self) -> None:
        """Stop listening and free the listener's socket storage."""
        self.stack.listeners.pop(self.port, None)
        self.sk_refcnt = 0
        sk_storage_free(self)

    def watch(self, client_port: int, on_data: OnData) -> None:
        """Give the child socket for ``client_port`` this ``on_data`` callback when it appears."""
        self.watchers[client_port] = on_data


class TcpStack:
    """The TCP handler of one node."""

    __slots__ = ("conns", "listeners", "next_port", "node")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.conns: dict[tuple[int, int, int], TcpSock] = {}
        self.listeners: dict[int, TcpListener] = {}
        self.next_port = 32768
        node.register_protocol(IPPROTO_TCP, self)

    @classmethod
    def of(cls, node: Node) -> TcpStack:
        """The node's stack, created on first use."""
        stack = node.protocols.get(IPPROTO_TCP)
        return stack if isinstance(stack, TcpStack) else cls(node)

    def listen(self, port: int, cc: str | None = None, ecn: bool = False,
               on_accept: OnAccept | None = None,
               sock_ops: SockOpsTarget | Cgroup | None = None) -> TcpListener:  # fmt: skip
        """Listen on ``port``; children get ``cc``, ECN and ``sock_ops`` (e.g. a ``Cgroup``)."""
        if port in self.listeners:
            raise KernelError(errno.EADDRINUSE, f"{self.node.name}: TCP port {port} in use")
        lst = TcpListener(self, port, cc, ecn, on_accept)
        lst.sock_ops = sock_ops
        self.listeners[port] = lst
        return lst

    def listener_or_listen(
        self, port: int, cc: str | None = None, ecn: bool = False
    ) -> TcpListener:
        lst = self.listeners.get(port)
        return lst if lst is not None else self.listen(port, cc, ecn)

    def connect(self, daddr: int, dport: int, name: str, cc: str | None = None,
                ecn: bool = False, sport: int | None = None,
                sock_ops: SockOpsTarget | Cgroup | None = None,
                isn: int | None = None) -> TcpSock:  # fmt: skip
        """Create a socket and start the three-way handshake (``isn`` forces the ISN)."""
        if sport is None:
            sport = self.next_port
            self.next_port += 1
        sk = TcpSock(self, sport, daddr, dport, name, cc, ecn)
        if sock_ops is not None:
            sk.attach_sock_ops(sock_ops)
        self.conns[(sport, daddr, dport)] = sk
        sk.connect(isn)
        return sk

    def receive(self, skb: SkBuff) -> None:
        sk = self.conns.get((skb.dport, skb.src, skb.sport))
        if sk is not None:
            sk.receive(skb)
            return
        th = cast(TcpHdr, skb.th)  # the TCP layer's header on every segment it receives
        lst = self.listeners.get(skb.dport)
        if lst is None or not th.flags & TCPHDR_SYN or th.flags & TCPHDR_ACK:
            skb_drop(skb, DROP_NO_SOCKET, self.node.sched.now)
            return
        flow = skb.flow
        name = f"{flow.name}.r" if flow is not None else f"{self.node.name}:{skb.dport}.r"
        sk = TcpSock(self, skb.dport, skb.src, skb.sport, name, lst.cc, lst.ecn)
        if lst.sock_ops is not None:
            sk.attach_sock_ops(lst.sock_ops)  # the child joins the listener's cgroup
        if lst.sk_bpf_storage is not None or lst.sk_bpf_inline is not None:
            # sk_clone_lock: the child starts with no option memory, then inherits the
            # listener's BPF_F_CLONE values; on ENOMEM the child is dropped (and the SYN).
            sk.sk_omem_alloc = 0
            try:
                sk_storage_clone(lst, sk)
            except KernelError:
                sk_storage_free(sk)
                skb_drop(skb, DROP_NO_SOCKET, self.node.sched.now)
                return
        self.conns[(skb.dport, skb.src, skb.sport)] = sk
        sk.on_data = lst.watchers.get(skb.sport)
        sk._passive_open(th, lst.ecn)
        skb_consume(skb)

    def accepted_sock(self, sk: TcpSock) -> None:
        lst = self.listeners.get(sk.sport)
        if lst is not None:
            lst.accepted.append(sk)
            if lst.on_accept is not None:
                lst.on_accept(sk)

    def unhash(self, sk: TcpSock) -> None:
        self.conns.pop((sk.sport, sk.daddr, sk.dport), None)
