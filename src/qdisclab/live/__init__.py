"""Live mode: qdisclab's qdiscs and tc programs on real packets between network namespaces.

``LiveLab`` makes (and always removes) two namespaces joined through TUN
devices; ``LiveDevice`` is a ``NetDevice`` whose wire ends in a file
descriptor, so any qdisc and tcx program runs on it unchanged, driven by the
wall-clock ``RealtimeScheduler``; ``run_live`` runs a bounded experiment
(iperf3 TCP and a ping probe) through it.
"""

from qdisclab.live.netns import ADDR_A, ADDR_B, PREFIX, LiveLab, sweep_stale

__all__ = ["ADDR_A", "ADDR_B", "PREFIX", "LiveLab", "sweep_stale"]
