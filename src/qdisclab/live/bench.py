"""Live forwarding figures (root only): real TCP through qdisclab between two namespaces.

``live_<qdisc>_mbps`` is iperf3's goodput and ``live_<qdisc>_pps`` the packets
per second the qdisc sent in the data direction, for pfifo and fq_codel on an
unshaped path (100 gbit, no delay) with 1500-byte packets, so the figure is
qdisclab's own forwarding speed (without the sojourn recording a run adds
for its report). ``live_load_1min`` is the host's load average when the row
ran: on a shared machine the figures fall as the load rises. Without root or the tools the row reports
what is missing instead of figures.

The row lives here rather than in ``qdisclab.bench`` (a peer layer); the
``bench`` command adds ``ROWS`` to the suite.
"""

from __future__ import annotations

import os
from typing import Any

from qdisclab.live import host

QDISCS = ("pfifo", "fq_codel")
UNSHAPED = 100_000_000_000  # bit/s: far above what Python forwards, so nothing queues for rate


def live_forwarding(budget: Any) -> dict[str, Any]:
    """The bench row (``budget.quick``: 1 s runs instead of 5 s)."""
    missing = host.missing_requirements(tools=(*host.BASE_TOOLS, *host.LOAD_TOOLS))
    if missing:
        return {"live_skipped": "needs " + ", ".join(missing)}
    from qdisclab.live.experiment import LiveConfig, run_live  # only when the row can run

    seconds = 1 if budget.quick else 5
    out: dict[str, Any] = {"live_load_1min": round(os.getloadavg()[0], 2)}
    for kind in QDISCS:
        config = LiveConfig(qdisc=kind, rate=UNSHAPED, delay=0, duration=seconds, probe="none",
                            sojourn=False)  # fmt: skip
        result = run_live(config)
        out[f"live_{kind}_mbps"] = result["throughput_mbps"]
        out[f"live_{kind}_pps"] = round(result["qdisc"]["packets"] / seconds)
    return out


ROWS = [live_forwarding]
