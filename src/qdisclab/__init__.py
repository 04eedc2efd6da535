"""qdisclab: the Linux kernel's programmable network datapath, rebuilt in Python.

Write a queuing discipline, a tc program or a TCP congestion control as a small
Python class against the kernel's interfaces, and run it on a deterministic
simulated network.
"""

from qdisclab._native import build_info, select

# Compiled or pure is decided here, before any other submodule is imported (_native.py).
select()

__version__ = "0.1.0"

__all__ = ["Scenario", "build_info", "run"]


def print_version() -> int:
    """``qdisclab --version``: the version and which build runs; the exit status (0)."""
    print(f"qdisclab {__version__}, {build_info()}")
    return 0


def __getattr__(name: str):  # the notebook API, imported on first use (the CLI does not need it)
    if name in ("Scenario", "run"):
        from qdisclab.scenario import api

        return getattr(api, name)
    raise AttributeError(f"module 'qdisclab' has no attribute {name!r}")
