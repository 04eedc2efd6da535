"""TCP: endpoints, ``tcp_congestion_ops`` and the built-in congestion controls."""

from qdisclab.tcp.congestion import *  # noqa: F403
from qdisclab.tcp.congestion import (
    TCP_ECN_DEMAND_CWR,
    TCP_ECN_OK,
    TCP_ECN_QUEUE_CWR,
    TCP_ECN_SEEN,
    AckSample,
    CongestionOps,
    RateSample,
    available_cc,
    get_default_cc,
    lookup_cc,
    register_cc,
    set_default_cc,
    unregister_cc,
    update_cc,
)
from qdisclab.tcp.header import TcpHdr
from qdisclab.tcp.sock import TcpSock
from qdisclab.tcp.stack import TcpListener, TcpStack

set_default_cc("cubic")

__all__ = [
    "TCP_ECN_DEMAND_CWR",
    "TCP_ECN_OK",
    "TCP_ECN_QUEUE_CWR",
    "TCP_ECN_SEEN",
    "AckSample",
    "CongestionOps",
    "RateSample",
    "TcpHdr",
    "TcpListener",
    "TcpSock",
    "TcpStack",
    "available_cc",
    "get_default_cc",
    "lookup_cc",
    "register_cc",
    "set_default_cc",
    "unregister_cc",
    "update_cc",
]
