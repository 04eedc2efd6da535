"""The qdisc layer: ``QdiscOps`` (what users subclass), ``Qdisc`` instances, the catalogue.

>>> from qdisclab.sched import QdiscOps, NET_XMIT_SUCCESS, NET_XMIT_DROP
"""

from qdisclab.sched.constants import (
    NET_XMIT_CN,
    NET_XMIT_DROP,
    NET_XMIT_SUCCESS,
    TC_H_INGRESS,
    TC_H_MAJ,
    TC_H_MAKE,
    TC_H_MIN,
    TC_H_ROOT,
    TC_H_UNSPEC,
)
from qdisclab.sched.filters import FilterChain, TcFilter
from qdisclab.sched.handle import format_handle, parse_handle
from qdisclab.sched.ops import QDISC_OPS, QdiscOps
from qdisclab.sched.options import Opt
from qdisclab.sched.qdisc import Qdisc
from qdisclab.sched.registry import (
    builtin_qdisc_kinds,
    create_qdisc,
    load_builtins,
    lookup_qdisc,
    qdisc_kinds,
    register_qdisc,
    unregister_qdisc,
    update_qdisc,
)

__all__ = [
    "NET_XMIT_CN",
    "NET_XMIT_DROP",
    "NET_XMIT_SUCCESS",
    "QDISC_OPS",
    "TC_H_INGRESS",
    "TC_H_MAJ",
    "TC_H_MAKE",
    "TC_H_MIN",
    "TC_H_ROOT",
    "TC_H_UNSPEC",
    "FilterChain",
    "Opt",
    "Qdisc",
    "QdiscOps",
    "TcFilter",
    "builtin_qdisc_kinds",
    "create_qdisc",
    "format_handle",
    "load_builtins",
    "lookup_qdisc",
    "parse_handle",
    "qdisc_kinds",
    "register_qdisc",
    "unregister_qdisc",
    "update_qdisc",
]
