"""TCP traffic types (``tcp-bulk``, ``tcp-transfer``, ``tcp-rr``) and congestion-control extensions.

A flow names its congestion control with ``cc`` (checked at load time against
``available_cc()``, which includes classes loaded with ``[[extension]]``),
``ecn = true`` to negotiate ECN, ``mss`` to cap the sender's segment size below
what the path MTU allows, and ``start``/``stop``. Each flow reports goodput over
the measurement window (bytes delivered in order to the receiving application),
RTT p50/p99 from the sender's samples inside the window (``rtt_ms``; the whole
run's are ``rtt_ms_run``), retransmissions, and for transfers the flow
completion time.

>>> from qdisclab.scenario.library import load_builtin
>>> from qdisclab.scenario.build import run_loaded
>>> res = run_loaded(load_builtin("bufferbloat-fq_codel", {"run.duration": "1s"}))
>>> res["tcp"][0]["flow"], res["tcp"][0]["cc"]
('S->D', 'cubic')
"""

from __future__ import annotations

import sys
from typing import Any

from qdisclab.errors import QdiscLabError
from qdisclab.measure import percentile
from qdisclab.scenario.bpf_specs import PREFIX as BPF_PREFIX
from qdisclab.scenario.bpf_specs import resolve_cc_spec, verify_cc
from qdisclab.scenario.registry import (
    ROLE_PROBE,
    register_extension_kind,
    register_or_replace,
    register_traffic,
)
from qdisclab.units import parse_size, parse_time

# The TCP stack is imported by the first TCP flow's check, not here: registering
# these types must not load TCP into every run (a UDP scenario never needs it).

TCP_PORT = 5001
INFINITE = 1 << 60
MAX_PLOT_POINTS = 2000  # per flow in results["cwnd_series"]; the CSV keeps every point


def _path_mtu(loaded: Any, src: str) -> int:
    """The MTU of the first link leaving ``src`` (where the sender's MSS comes from)."""
    return loaded.first_link_mtu.get(src, 1500)


def check_tcp(loaded: Any, spec: Any, index: int) -> None:
    """Load-time checks: a registered congestion control, an MSS the MTU allows, sizes."""
    from qdisclab.tcp import available_cc, lookup_cc
    from qdisclab.tcp.header import TCP_MSS_OVERHEAD, TCPOLEN_TSTAMP_ALIGNED

    if spec.cc is not None and spec.cc.startswith(BPF_PREFIX):
        try:  # a compiled congestion control registers itself; the flow then names it
            spec.cc = resolve_cc_spec(spec.cc, loaded.base_dir)
        except QdiscLabError as exc:
            raise loaded.error(("flow", index, "cc"), spec.cc, "", str(exc)) from None
    if spec.cc is not None and lookup_cc(spec.cc) is None:
        raise loaded.error(("flow", index, "cc"), spec.cc, ", ".join(available_cc()))
    if spec.mss is not None:
        most = _path_mtu(loaded, spec.src) - TCP_MSS_OVERHEAD - TCPOLEN_TSTAMP_ALIGNED
        if spec.mss > most:
            raise loaded.error(("flow", index, "mss"), spec.mss,
                               f"at most {most} (the {spec.src} link's MTU minus 52 bytes "
                               "of IP/TCP headers and timestamps)")  # fmt: skip
    if spec.type == "tcp-transfer" and spec.bytes is None:
        raise loaded.error(("flow", index, "bytes"), None, "a size to transfer, e.g. '1MB'")
    if spec.type != "tcp-transfer" and spec.bytes is not None:
        raise loaded.error(("flow", index, "bytes"), spec.bytes, "only with type tcp-transfer")
    for key in ("request", "response", "count"):
        if spec.type != "tcp-rr" and getattr(spec, key) is not None:
            raise loaded.error(("flow", index, key), getattr(spec, key), "only with type tcp-rr")


def _ms(values: Any, q: int) -> float | None:
    return round(percentile(values, q) / 1000, 6) if values else None  # us -> ms


class TcpFlow:
    """One scenario TCP flow: a client socket to a listener on ``dst``, started at ``start``."""

    result_section = "tcp"

    def __init__(self, ctx: Any, spec: Any, index: int) -> None:
        from qdisclab.tcp import TcpStack, get_default_cc, lookup_cc

        world = ctx.world
        self.kind = spec.type
        self.src = world.node(spec.src)
        self.dst = world.node(spec.dst)
        self.name = ctx.flow_name(spec, index)
        world.flow_books(self.name)  # reserve the name now; the socket appears at start
        self.cc = spec.cc or get_default_cc()
        verify_cc(lookup_cc(self.cc), world.policy)  # a compiled one the verifier refuses
        self.ecn = spec.ecn
        self.mss = spec.mss
        self.port = spec.dport or TCP_PORT
        self.start = parse_time(spec.start)
        self.stop = parse_time(spec.stop) if spec.stop is not None else None
        self.window = ctx.window
        self.totals = ctx.totals
        ctx.totals.watch(self._bytes_read)
        self.listener = TcpStack.of(self.dst).listener_or_listen(self.port, self.cc, self.ecn)
        self.sk: Any = None
        self.sched = world.sched
        self.sched.call_at(self.start, self._start, None)
        if self.stop is not None:
            self.sched.call_at(self.stop, self._stop, None)

    def _connect(self) -> Any:
        from qdisclab.tcp import TcpStack

        sk = TcpStack.of(self.src).connect(self.dst.addr, self.port, self.name, self.cc, self.ecn)
        if self.mss is not None:
            sk.mss_cache = self.mss  # before the handshake ends: every data segment uses it
        self.sk = sk
        return sk

    def _start(self, _arg: object) -> None:
        self._connect().send(INFINITE)

    def _stop(self, _arg: object) -> None:
        sk = self.sk
        if sk is not None:
            # The application stops writing: in-flight data is delivered, then the FIN.
            sk.discard_unsent()
            sk.close()

    def _bytes_read(self) -> dict[str, int]:
        rx = self.receiver
        return {f"goodput:{self.name}": rx.bytes_received if rx is not None else 0}

    @property
    def receiver(self) -> Any:
        sk = self.sk
        if sk is None:
            return None
        for rx in self.listener.accepted:
            if rx.dport == sk.sport and rx.daddr == sk.saddr:
                return rx
        return None

    def summary(self) -> dict[str, Any]:
        rx = self.receiver
        sk = self.sk
        run: list[int] = []
        inside: list[int] = []
        if sk is not None:  # RTT samples are stamped in us
            st = sk.stats
            start_us, end_us = self.window[0] // 1000, self.window[1] // 1000
            run = sorted(st.rtt_us)
            inside = sorted(r for t, r in zip(st.rtt_t, st.rtt_us, strict=True)
                            if start_us <= t < end_us)  # fmt: skip
        # Exact: the bytes read in order inside the window, over the window's length.
        goodput = self.totals.rate_bps(f"goodput:{self.name}") / 1e6
        out: dict[str, Any] = {
            "flow": self.name,
            "type": self.kind,
            "cc": self.cc,
            "goodput_mbps": round(goodput, 6),
            "bytes_received": rx.bytes_received if rx is not None else 0,
            "rtt_ms": {"p50": _ms(inside, 50), "p99": _ms(inside, 99)},  # over the window
            "rtt_ms_run": {"p50": _ms(run, 50), "p99": _ms(run, 99)},
            "retrans": sk.stats.retrans if sk is not None else 0,
            "rto": sk.stats.rto_count if sk is not None else 0,
        }
        return out

    def cwnd_trace(self) -> dict[str, Any] | None:
        """Every recorded point: times (ns), cwnd, ssthresh, srtt (us), pacing rate (B/s)."""
        if self.sk is None:
            return None
        st = self.sk.stats
        return {"t": st.t, "cwnd": st.cwnd, "ssthresh": st.ssthresh, "srtt_us": st.srtt_us,
                "pacing": st.pacing}  # fmt: skip

    def cwnd_series(self) -> list[tuple[float, int]]:
        """(time s, cwnd packets), thinned to at most ``MAX_PLOT_POINTS`` for plots and JSON."""
        if self.sk is None:
            return []
        st = self.sk.stats
        step = max(1, -(-len(st.t) // MAX_PLOT_POINTS))
        return [(t / 1e9, c) for t, c in zip(st.t[::step], st.cwnd[::step], strict=True)]


class TcpTransfer(TcpFlow):
    """Send ``bytes`` then close; the flow completion time runs from ``start`` to the last byte."""

    def __init__(self, ctx: Any, spec: Any, index: int) -> None:
        super().__init__(ctx, spec, index)
        self.nbytes = parse_size(spec.bytes)
        self.fct_ns: int | None = None

    def _start(self, _arg: object) -> None:
        sk = self._connect()
        sk.send(self.nbytes)
        sk.close()
        self.listener.watch(sk.sport, self._on_data)

    def _on_data(self, rx: Any, _n: int) -> None:
        if self.fct_ns is None and rx.bytes_received >= self.nbytes:
            self.fct_ns = self.sched.now - self.start
            rx.close()

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        out["bytes"] = self.nbytes
        out["fct_ms"] = None if self.fct_ns is None else self.fct_ns / 1e6
        return out


class TcpRequestResponse(TcpFlow):
    """``request`` bytes from client to server, ``response`` bytes back, ``count`` times."""

    def __init__(self, ctx: Any, spec: Any, index: int) -> None:
        super().__init__(ctx, spec, index)
        self.req = parse_size(spec.request or 100)
        self.resp = parse_size(spec.response or 10_000)
        self.count = spec.count
        self.latencies: list[int] = []
        self._srv_got = 0
        self._cli_got = 0
        self._t0 = 0
        self._stopped = False

    def _start(self, _arg: object) -> None:
        sk = self._connect()
        sk.on_established = self._request
        sk.on_data = self._client_data
        self.listener.watch(sk.sport, self._server_data)

    def _stop(self, _arg: object) -> None:
        self._stopped = True

    def _request(self, sk: Any) -> None:
        self._t0 = self.sched.now
        self._cli_got = 0
        sk.send(self.req)

    def _server_data(self, rx: Any, n: int) -> None:
        self._srv_got += n
        while self._srv_got >= self.req:
            self._srv_got -= self.req
            rx.send(self.resp)

    def _client_data(self, sk: Any, n: int) -> None:
        self._cli_got += n
        if self._cli_got < self.resp:
            return
        self.latencies.append(self.sched.now - self._t0)
        if self._stopped or (self.count is not None and len(self.latencies) >= self.count):
            sk.close()
        else:
            self._request(sk)

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        lat = sorted(self.latencies)
        out["transactions"] = len(lat)
        out["latency_ms"] = {
            "p50": None if not lat else percentile(lat, 50) / 1e6,
            "p99": None if not lat else percentile(lat, 99) / 1e6,
        }
        return out


register_traffic("tcp-bulk", TcpFlow, check_tcp)
register_traffic("tcp-transfer", TcpTransfer, check_tcp)
register_traffic("tcp-rr", TcpRequestResponse, check_tcp, role=ROLE_PROBE)


def _is_cc(cls: type) -> bool:
    # A subclass of CongestionOps has imported its module: if TCP is not loaded, no class is one.
    congestion = sys.modules.get("qdisclab.tcp.congestion")
    return congestion is not None and issubclass(cls, congestion.CongestionOps)


def _register_cc(cls: type) -> None:
    from qdisclab.tcp import lookup_cc
    from qdisclab.tcp.congestion import register_cc, update_cc

    existing = lookup_cc(cls.name) if cls.name else None
    register_or_replace(existing, cls, register_cc, lambda c: update_cc(c.name, c))


register_extension_kind(_is_cc, _register_cc, "congestion control (CongestionOps)")
