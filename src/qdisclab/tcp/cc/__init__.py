"""Built-in congestion controls, one file each, named like the kernel's modules."""

from qdisclab.tcp.cc import cubic, reno

__all__ = ["cubic", "reno"]
