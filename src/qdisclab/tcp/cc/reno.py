"""Reno/NewReno (``tcp_reno``): the always-registered fallback congestion control.

>>> from qdisclab.tcp.congestion import lookup_cc
>>> lookup_cc("reno").name
'reno'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mypy_extensions import mypyc_attr

from qdisclab.tcp.congestion import (
    TCP_CONG_NON_RESTRICTED,
    CongestionOps,
    register_cc,
    tcp_reno_cong_avoid,
    tcp_reno_ssthresh,
    tcp_reno_undo_cwnd,
)

if TYPE_CHECKING:
    from qdisclab.tcp.sock_base import TcpSockBase


# Users tune a built-in by subclassing it, compiled or not.
@mypyc_attr(allow_interpreted_subclasses=True)
class Reno(CongestionOps):
    """Slow start, +1 MSS per RTT, halve on loss."""

    name = "reno"
    flags = TCP_CONG_NON_RESTRICTED

    def ssthresh(self, sk: TcpSockBase) -> int:
        return tcp_reno_ssthresh(sk)

    def cong_avoid(self, sk: TcpSockBase, ack: int, acked: int) -> None:
        tcp_reno_cong_avoid(sk, ack, acked)

    def undo_cwnd(self, sk: TcpSockBase) -> int:
        return tcp_reno_undo_cwnd(sk)


# Registered after the definition, not as a decorator: a decorated class cannot be compiled.
register_cc(Reno)
