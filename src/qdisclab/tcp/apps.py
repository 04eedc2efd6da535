"""TCP applications: bulk sender, finite transfer with flow completion time, request/response.

>>> from qdisclab.net import World
>>> w = World(seed=1); a = w.add_host("A"); b = w.add_host("B")
>>> _ = w.connect(a, b, "100mbit", "1ms"); w.build_routes()
>>> t = FiniteTransfer(a, b, 5001, 200_000, "fct")
>>> w.run(2_000_000_000); t.fct_ns is not None and t.fct_ns > 0
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qdisclab.tcp.sock import TcpSock
from qdisclab.tcp.stack import TcpStack

if TYPE_CHECKING:
    from qdisclab.net.node import Node

INFINITE = 1 << 60


class BulkSender:
    """An always-backlogged flow from ``src`` to ``dst:port`` (iperf-like)."""

    def __init__(self, src: Node, dst: Node, port: int, name: str, cc: str | None = None,
                 ecn: bool = False, start_ns: int = 0) -> None:  # fmt: skip
        self.listener = TcpStack.of(dst).listener_or_listen(port, cc, ecn)
        self.src, self.dst, self.port, self.name, self.cc, self.ecn = src, dst, port, name, cc, ecn
        self.sk: TcpSock | None = None
        src.sched.call_at(start_ns, self._start, None)

    def _start(self, _arg: object) -> None:
        self.sk = TcpStack.of(self.src).connect(self.dst.addr, self.port, self.name, self.cc,
                                                self.ecn)  # fmt: skip
        self.sk.send(INFINITE)

    @property
    def receiver(self) -> TcpSock | None:
        for sk in self.listener.accepted:
            if self.sk is not None and sk.dport == self.sk.sport:
                return sk
        return None

    def goodput_bps(self, start_ns: int, end_ns: int) -> float:
        rx = self.receiver
        return rx.rx_metrics.throughput_bps(start_ns, end_ns) if rx is not None else 0.0


class FiniteTransfer:
    """Send ``nbytes`` then close; ``fct_ns`` = connect to last byte received."""

    def __init__(self, src: Node, dst: Node, port: int, nbytes: int, name: str,
                 cc: str | None = None, start_ns: int = 0) -> None:  # fmt: skip
        self.nbytes = nbytes
        self.start_ns = start_ns
        self.fct_ns: int | None = None
        self.listener = TcpStack.of(dst).listener_or_listen(port, cc, False)
        self.src, self.dst, self.port, self.name, self.cc = src, dst, port, name, cc
        self.sk: TcpSock | None = None
        src.sched.call_at(start_ns, self._start, None)

    def _start(self, _arg: object) -> None:
        self.sk = TcpStack.of(self.src).connect(self.dst.addr, self.port, self.name, self.cc)
        self.sk.send(self.nbytes)
        self.sk.close()
        self.listener.watch(self.sk.sport, self._on_data)

    def _on_data(self, rx: TcpSock, _n: int) -> None:
        if rx.bytes_received >= self.nbytes and self.fct_ns is None:
            self.fct_ns = rx.sched.now - self.start_ns
            rx.close()


class RequestResponse:
    """Client sends ``req`` bytes, server answers ``resp`` bytes, ``count`` times; latencies in ns."""

    def __init__(self, client: Node, server: Node, port: int, req: int, resp: int, count: int,
                 name: str, cc: str | None = None) -> None:  # fmt: skip
        self.req, self.resp, self.count = req, resp, count
        self.latencies: list[int] = []
        self._srv_got = 0
        self._cli_got = 0
        self._t0 = 0
        self.listener = TcpStack.of(server).listener_or_listen(port, cc, False)
        self.sk = TcpStack.of(client).connect(server.addr, port, name, cc)
        self.sk.on_established = self._send_req
        self.sk.on_data = self._cli_data
        self.listener.watch(self.sk.sport, self._srv_data)

    def _send_req(self, sk: TcpSock) -> None:
        self._t0 = sk.sched.now
        self._cli_got = 0
        sk.send(self.req)

    def _srv_data(self, rx: TcpSock, n: int) -> None:
        self._srv_got += n
        if self._srv_got >= self.req:
            self._srv_got -= self.req
            rx.send(self.resp)

    def _cli_data(self, sk: TcpSock, n: int) -> None:
        self._cli_got += n
        if self._cli_got >= self.resp:
            self.latencies.append(sk.sched.now - self._t0)
            if len(self.latencies) < self.count:
                self._send_req(sk)
            else:
                sk.close()
