"""Shared helpers of the map tests."""

from __future__ import annotations

from qdisclab.errors import KernelError


class Node:
    """A value owning a resource: counts its destructor calls."""

    def __init__(self, tag=None):
        self.tag = tag
        self.dtors = 0

    def __bpf_dtor__(self):
        self.dtors += 1


def err(fn, *args):
    """The errno ``fn(*args)`` raises, or None if it succeeds."""
    try:
        fn(*args)
    except KernelError as e:
        return e.errno
    return None
