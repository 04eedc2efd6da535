"""qdisclab: the Linux kernel's programmable network datapath, rebuilt in Python.

Write a queuing discipline, a tc program or a TCP congestion control as a small
Python class against the kernel's interfaces, and run it on a deterministic
simulated network.
"""

__version__ = "0.1.0"

__all__ = ["Scenario", "run"]


def __getattr__(name: str):  # the notebook API, imported on first use (the CLI does not need it)
    if name in __all__:
        from qdisclab.scenario import api

        return getattr(api, name)
    raise AttributeError(f"module 'qdisclab' has no attribute {name!r}")
