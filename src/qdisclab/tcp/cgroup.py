"""A minimal cgroup-v2 directory: sockets belong to one, and it carries the tcp_ops hook.

A socket's cgroup is the one it was created in (B.1); ``add_socket`` records
that and points ``sk.sock_ops`` at the cgroup, so the TCP code's
``sk.sock_ops.event(sk, name, *args)`` runs this cgroup's attached ``TcpOps``
and then its ancestors'.

>>> root = Cgroup("/")
>>> web = root.child("web")
>>> web.path
'/web'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from qdisclab.tcp.sock_ops import TcpOpsHook

if TYPE_CHECKING:
    from qdisclab.tcp.sock import TcpSock
    from qdisclab.tcp.sock_base import TcpSockBase


class Cgroup:
    """A node of the cgroup tree with a ``tcp_ops`` attach point."""

    __slots__ = ("children", "name", "parent", "tcp_ops")

    def __init__(self, name: str = "/", parent: Cgroup | None = None) -> None:
        self.name = name
        self.parent = parent
        self.children: dict[str, Cgroup] = {}
        self.tcp_ops: TcpOpsHook = TcpOpsHook(parent.tcp_ops if parent is not None else None)

    def child(self, name: str) -> Cgroup:
        """The child directory ``name`` (created on first use, like mkdir -p)."""
        cg = self.children.get(name)
        if cg is None:
            cg = self.children[name] = Cgroup(name, self)
        return cg

    @property
    def path(self) -> str:
        if self.parent is None:
            return "/"
        base = self.parent.path
        return f"{base.rstrip('/')}/{self.name}"

    def add_socket(self, sk: TcpSock) -> None:
        """Record the socket's cgroup and route its sock_ops events here."""
        sk.cgroup = self
        sk.sock_ops = self

    def event(self, sk: TcpSockBase | None, name: str, *args: object) -> int | None:
        """The sock_ops entry point TCP calls; see ``TcpOpsHook.event``."""
        # TCP raises its events from the whole socket, whichever part of it runs
        return self.tcp_ops.event(cast("TcpSock | None", sk), name, *args)

    def __repr__(self) -> str:
        return f"<Cgroup {self.path} tcp_ops={[type(o).id for o in self.tcp_ops.attached]}>"
