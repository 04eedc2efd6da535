"""Built-in congestion controls, one file each, named like the kernel's modules."""

from qdisclab.tcp.cc import bbr, cubic, dctcp, reno

__all__ = ["bbr", "cubic", "dctcp", "reno"]
