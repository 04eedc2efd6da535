"""Live mode: qdisclab's qdiscs and tc programs on real packets between network namespaces.

``LiveLab`` makes (and always removes) two namespaces joined through TUN
devices; ``LiveDevice`` is a ``NetDevice`` whose wire ends in a file
descriptor, so any qdisc and tcx program runs on it unchanged, driven by the
wall-clock ``RealtimeScheduler``; ``run_live`` runs a bounded experiment
(iperf3 TCP and a ping probe) through it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ADDR_A", "ADDR_B", "PREFIX", "LiveLab", "sweep_stale"]


def __getattr__(name: str) -> Any:
    # Imported on first use: ``qdisclab bench`` imports this package for its live row
    # and should not set up namespace tooling unless that row runs.
    if name in __all__:
        from qdisclab.live import netns

        return getattr(netns, name)
    raise AttributeError(f"module 'qdisclab.live' has no attribute {name!r}")
