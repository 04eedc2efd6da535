"""Metrics, traces, pcap and plots."""

from qdisclab.skb.flowmetrics import DEFAULT_BIN_NS, FlowMetrics, jain_index, percentile

__all__ = ["DEFAULT_BIN_NS", "FlowMetrics", "jain_index", "percentile"]
