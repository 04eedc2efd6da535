"""Devices, links, hosts and routers; the egress/ingress pipeline; the ``World``."""

from qdisclab.net.addr import ip_str, parse_ip, parse_prefix
from qdisclab.net.channel import Channel
from qdisclab.net.device import HOOK_DROP, HOOK_PASS, HOOK_STOLEN, NetDevice
from qdisclab.net.node import Node
from qdisclab.net.route import Route, RouteTable
from qdisclab.net.world import Link, World

__all__ = [
    "HOOK_DROP",
    "HOOK_PASS",
    "HOOK_STOLEN",
    "Channel",
    "Link",
    "NetDevice",
    "Node",
    "Route",
    "RouteTable",
    "World",
    "ip_str",
    "parse_ip",
    "parse_prefix",
]
