"""The ``[[netkit]]`` feature: a netkit pair (or, with ``kind = "veth"``, a veth pair).

Programs named by ``primary_program``/``peer_program`` are attached through
the primary as BPF_NETKIT_PRIMARY / BPF_NETKIT_PEER.
"""

from __future__ import annotations

from typing import Any

from qdisclab.errors import UserError
from qdisclab.scenario.registry import register_feature
from qdisclab.units import parse_time


class PairProbe:
    __slots__ = ("kind", "name", "pair")

    def __init__(self, kind: str, name: str, pair: Any) -> None:
        self.kind = kind
        self.name = name
        self.pair = pair

    def summary(self) -> dict[str, Any]:
        if self.kind == "veth":
            b = self.pair.backlog
            return {"probe": self.name, "kind": "veth", "polls": b.polls,
                    "backlog_drops": b.dropped}  # fmt: skip
        p = self.pair
        return {"probe": self.name, "kind": "netkit",
                "tx_dropped": p.primary.nk.tx_dropped + p.peer.nk.tx_dropped}  # fmt: skip


def build_netkit(ctx: Any, spec: Any, index: int) -> PairProbe:
    from qdisclab.netkit import create_pair, create_veth_pair  # only scenarios with pairs load it
    from qdisclab.scenario.extensions import load_object

    world = ctx.world
    a, b = world.node(spec.a), world.node(spec.b)
    name = spec.name or f"{spec.kind[:2]}{index}"
    if spec.kind == "veth":
        pair = create_veth_pair(world, a, b, name=name,
                                softirq_latency=parse_time(spec.softirq_latency))  # fmt: skip
        return PairProbe("veth", name, pair)
    pair = create_pair(world, a, b, name=name, mode=spec.mode, policy=spec.policy,
                       peer_policy=spec.peer_policy, scrub=spec.scrub,
                       peer_scrub=spec.peer_scrub, delay=parse_time(spec.delay))  # fmt: skip
    for field, hook in (("primary_program", pair.primary_hook), ("peer_program", pair.peer_hook)):
        ref = getattr(spec, field)
        if ref is None:
            continue
        try:
            func = load_object(ref, ctx.base_dir, program=True)
        except UserError as exc:
            raise ctx.error(("netkit", index, field), ref, "", str(exc)) from None
        hook.attach(pair.load(func, name=f"{name}:{field}"))
    return PairProbe("netkit", name, pair)


register_feature("netkit", build_netkit)
