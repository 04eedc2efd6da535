"""tcx: multi-program tc ingress/egress hooks on every device (``include/net/tcx.h``).

>>> from qdisclab.net import World
>>> from qdisclab.tcx import Tcx, TCX_NEXT, TCX_PASS
>>> w = World(); a, b = w.add_host("A"), w.add_host("B"); dev = w.connect(a, b).a
>>> tcx = Tcx.of(dev)
>>> p1 = tcx.load(lambda ctx: TCX_NEXT, name="p1"); p2 = tcx.load(lambda ctx: TCX_PASS, name="p2")
>>> tcx.egress.attach(p2); tcx.egress.attach(p1, before=p2)
>>> [p.name for p in tcx.egress.programs], tcx.egress.query().revision
(['p1', 'p2'], 3)
"""

from . import constants as _constants
from .constants import *  # noqa: F403 - uapi names are part of the API
from .context import REDIRECT_INFO, SkbContext, bpf_redirect, bpf_skb_set_tstamp
from .device import Tcx, bpf_objects, pin_map, pinned_map, tcx_hook
from .hook import (
    DROP_TC_STOLEN,
    REDIRECT_EGRESS,
    REDIRECT_FAILED,
    REDIRECT_INGRESS,
    ClassicFilter,
    TcxHook,
    TcxLink,
    TcxStats,
    skb_do_redirect,
)

__all__ = [
    "DROP_TC_STOLEN",
    "REDIRECT_EGRESS",
    "REDIRECT_FAILED",
    "REDIRECT_INFO",
    "REDIRECT_INGRESS",
    "ClassicFilter",
    "SkbContext",
    "Tcx",
    "TcxHook",
    "TcxLink",
    "TcxStats",
    "bpf_objects",
    "bpf_redirect",
    "bpf_skb_set_tstamp",
    "pin_map",
    "pinned_map",
    "skb_do_redirect",
    "tcx_hook",
    *(name for name in vars(_constants) if name.isupper()),
]
