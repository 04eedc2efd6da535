"""The kernel's own datapath as a reference: the same traffic over a veth pair.

``run_kernel`` puts the kernel qdisc ``config.qdisc`` (tc syntax, passed to
``tc qdisc replace``) on namespace a's end of a veth pair and drives the same
iperf3 load and ping probe as ``run_live``, so a qdisclab qdisc and the
kernel's can be compared on throughput and delay. This host's kernel has no
netem, so the reference path has no added delay, loss or jitter.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from qdisclab.errors import UserError
from qdisclab.live import host
from qdisclab.live.experiment import LiveConfig, drive_traffic, traffic_results, wait_exit
from qdisclab.live.netns import LiveLab


def run_kernel(config: LiveConfig) -> dict[str, Any]:
    """Run ``config``'s traffic through the kernel qdisc ``config.qdisc`` on a veth pair."""
    if config.delay or config.loss or config.jitter:
        raise UserError("a kernel reference run has no delay, loss or jitter (no netem here)")
    host.require((*config.tools(), "tc", "ethtool"))
    with LiveLab("veth") as lab:
        lab.run_in("a", ["tc", "qdisc", "replace", "dev", lab.dev_a, "root", *config.qdisc.split()])
        outputs = drive_traffic(lab, config, wait_exit)
        tc = lab.run_in("a", ["tc", "-s", "qdisc", "show", "dev", lab.dev_a]).stdout
    return {
        "mode": "kernel",
        "config": asdict(config),
        **traffic_results(config, outputs),
        "tc": tc,
    }
