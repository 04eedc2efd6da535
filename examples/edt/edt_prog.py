"""The EDT example's program and qdisc: re-exported from the built-in scenario's module.

``EdtPacer`` is the tcx egress program (per-flow rate in a BPF hash map,
stamps ``skb->tstamp``); ``FqEdt`` (``fq_edt``) is fq plus drop reports into
the same map. See README.md.
"""

from qdisclab.scenario.programs.edt import EdtPacer, FlowRate, FqEdt

pace_20mbit = EdtPacer(20_000_000)

__all__ = ["EdtPacer", "FlowRate", "FqEdt", "pace_20mbit"]
