"""Traffic: UDP sockets, sinks and sources (TCP applications join later)."""

from qdisclab.traffic.sources import CbrSource, OnOffSource, PoissonSource, UdpSource
from qdisclab.traffic.udp import UdpSink, UdpSocket, UdpStack

__all__ = [
    "CbrSource",
    "OnOffSource",
    "PoissonSource",
    "UdpSink",
    "UdpSocket",
    "UdpSource",
    "UdpStack",
]
