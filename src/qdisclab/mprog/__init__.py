"""Generic multi-program attach (kernel/bpf/mprog.c), as pure logic.

Used by tcx and netkit: an ordered list of up to 63 programs per hook, placed
with BPF_F_BEFORE/BPF_F_AFTER relative to a program or link, guarded by a
revision counter, queried like BPF_PROG_QUERY.

>>> from qdisclab.mprog import BpfObjects, Hook, BPF_TCX_INGRESS
>>> objs = BpfObjects()
>>> hook = Hook(objs, BPF_TCX_INGRESS)
>>> p1 = objs.program(lambda ctx: -1, name="p1")
>>> p2 = objs.program(lambda ctx: 0, name="p2")
>>> hook.attach(p2); hook.attach(p1, before=p2)
>>> hook.query()
HookInfo(count=2, revision=3, prog_ids=(1, 2), link_ids=(0, 0))
>>> hook.run(ctx=None)
0
"""

from . import constants as _constants
from .api import MISSING, Hook, HookInfo, position_args
from .bundle import MprogBundle
from .constants import *  # noqa: F403 - the uapi names are part of this package's API
from .hook import MprogHook
from .objects import BpfObjects, Link, Program
from .query import QueryNoSpace, QueryResult
from .relative import resolve_relative

__all__ = [
    "MISSING",
    "BpfObjects",
    "Hook",
    "HookInfo",
    "Link",
    "MprogBundle",
    "MprogHook",
    "Program",
    "QueryNoSpace",
    "QueryResult",
    "position_args",
    "resolve_relative",
    *(name for name in vars(_constants) if name.isupper()),
]
