"""The struct_ops machinery, generic over subsystems.

Interface descriptors and registration (``StructOpsInterface``), the kfunc
registry (``KFUNCS``, declared with ``@kfunc`` on a ``KfuncContext``; look
one up by kernel name with ``lookup``), the run-time ownership checker (``RUNNING``, ``take``,
``give``), skb collections (``SkbList``, ``SkbRbTree``, ``SkbNode``) with a lifetime (``Storage``) and
BPF-style maps.
"""

from qdisclab.ops.collections import SkbList, SkbNode, SkbRbTree, Storage
from qdisclab.ops.kfunc import (
    KF_ACQUIRE,
    KF_RELEASE,
    KF_RET_NULL,
    KF_TRUSTED_ARGS,
    KFUNCS,
    Kfunc,
    KfuncContext,
    KfuncRegistry,
    kfunc,
    lookup,
)
from qdisclab.ops.ownership import (
    POLICIES,
    POLICY_CONTAIN,
    POLICY_OFF,
    POLICY_STRICT,
    RUNNING,
    Frame,
    OwnershipViolation,
    check_exit,
    give,
    take,
    violation,
)
from qdisclab.ops.struct_ops import Member, StructOpsInterface

__all__ = [
    "KFUNCS",
    "KF_ACQUIRE",
    "KF_RELEASE",
    "KF_RET_NULL",
    "KF_TRUSTED_ARGS",
    "POLICIES",
    "POLICY_CONTAIN",
    "POLICY_OFF",
    "POLICY_STRICT",
    "RUNNING",
    "Frame",
    "Kfunc",
    "KfuncContext",
    "KfuncRegistry",
    "Member",
    "OwnershipViolation",
    "SkbList",
    "SkbNode",
    "SkbRbTree",
    "Storage",
    "StructOpsInterface",
    "check_exit",
    "give",
    "kfunc",
    "lookup",
    "take",
    "violation",
]
