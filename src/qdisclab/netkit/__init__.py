"""netkit device pairs (BPF programs in the transmit routine) and veth pairs to compare with.

>>> from qdisclab.net import World
>>> from qdisclab.netkit import create_pair, NETKIT_NEXT
>>> w = World(); pair = create_pair(w, w.add_host("H"), w.add_host("C"))
>>> link = pair.primary_hook.link(pair.load(lambda ctx: NETKIT_NEXT, name="tc1"))
>>> pair.primary_hook.query().revision, link.ifindex == pair.primary.ifindex
(2, True)
"""

from .device import (
    DROP_NETKIT,
    NETKIT_DROP,
    NETKIT_L2,
    NETKIT_L3,
    NETKIT_NEXT,
    NETKIT_PASS,
    NETKIT_REDIRECT,
    NETKIT_SCRUB_DEFAULT,
    NETKIT_SCRUB_NONE,
    NetkitDevice,
    NetkitHook,
    NetkitLink,
    NetkitPair,
    NetkitPriv,
    create_pair,
    netkit_hook,
)
from .veth import DROP_BACKLOG, Backlog, VethDevice, VethPair, create_veth_pair

__all__ = [
    "DROP_BACKLOG",
    "DROP_NETKIT",
    "NETKIT_DROP",
    "NETKIT_L2",
    "NETKIT_L3",
    "NETKIT_NEXT",
    "NETKIT_PASS",
    "NETKIT_REDIRECT",
    "NETKIT_SCRUB_DEFAULT",
    "NETKIT_SCRUB_NONE",
    "Backlog",
    "NetkitDevice",
    "NetkitHook",
    "NetkitLink",
    "NetkitPair",
    "NetkitPriv",
    "VethDevice",
    "VethPair",
    "create_pair",
    "create_veth_pair",
    "netkit_hook",
]
