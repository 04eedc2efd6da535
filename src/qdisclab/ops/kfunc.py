"""The kfunc registry: functions an extension may call, and from which callbacks.

Each kfunc carries the kernel's flags (acquire, release, may return NULL,
trusted args) and an allow-list of the ops-table members that may call it,
mirroring ``bpf_qdisc_kfunc_filter``. Frames are built with the set of kfunc
names their callback may call; ``require_kfunc`` enforces it at call time.

>>> reg = KfuncRegistry()
>>> _ = reg.register("bpf_demo", "Demo_ops", {"enqueue"}, KF_RELEASE, "frees an skb")
>>> sorted(reg.allowed_for("Demo_ops", "enqueue")), sorted(reg.allowed_for("Demo_ops", "init"))
(['bpf_demo'], [])
"""

from __future__ import annotations

from dataclasses import dataclass

# include/linux/btf.h
KF_ACQUIRE = 1 << 0
KF_RELEASE = 1 << 1
KF_RET_NULL = 1 << 2
KF_TRUSTED_ARGS = 1 << 4
KF_SLEEPABLE = 1 << 5

_FLAG_NAMES = (
    (KF_ACQUIRE, "KF_ACQUIRE"),
    (KF_RELEASE, "KF_RELEASE"),
    (KF_RET_NULL, "KF_RET_NULL"),
    (KF_TRUSTED_ARGS, "KF_TRUSTED_ARGS"),
    (KF_SLEEPABLE, "KF_SLEEPABLE"),
)

ALL_MEMBERS = "*"


@dataclass(frozen=True)
class Kfunc:
    name: str
    interface: str
    allowed: frozenset[str]  # member names, or {"*"} for every member
    flags: int
    doc: str

    def flag_names(self) -> list[str]:
        return [text for bit, text in _FLAG_NAMES if self.flags & bit]

    def allows(self, member: str) -> bool:
        return ALL_MEMBERS in self.allowed or member in self.allowed


class KfuncRegistry:
    """All kfuncs, grouped by the ops interface that may use them."""

    def __init__(self) -> None:
        self._kfuncs: dict[tuple[str, str], Kfunc] = {}

    def register(
        self, name: str, interface: str, allowed: set[str] | frozenset[str], flags: int, doc: str
    ) -> Kfunc:
        kf = Kfunc(name, interface, frozenset(allowed), flags, doc)
        self._kfuncs[(interface, name)] = kf
        return kf

    def allowed_for(self, interface: str, member: str) -> frozenset[str]:
        """Names of the kfuncs callable from ``member`` of ``interface``."""
        return frozenset(
            kf.name
            for (iface, _), kf in self._kfuncs.items()
            if iface == interface and kf.allows(member)
        )

    def all(self) -> list[Kfunc]:
        return sorted(self._kfuncs.values(), key=lambda k: (k.interface, k.name))


KFUNCS = KfuncRegistry()
