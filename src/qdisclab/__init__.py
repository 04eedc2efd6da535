"""qdisclab: the Linux kernel's programmable network datapath, rebuilt in Python.

Write a queuing discipline, a tc program or a TCP congestion control as a small
Python class against the kernel's interfaces, and run it on a deterministic
simulated network.
"""

__version__ = "0.1.0"
