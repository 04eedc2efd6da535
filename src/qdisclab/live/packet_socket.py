"""AF_PACKET sockets opened inside a network namespace qdisclab made.

A socket belongs to the namespace of the thread that creates it, so each is
created in a short-lived thread that has entered the namespace with
``setns(2)`` (Python 3.11 has no ``os.setns``; libc's is called through
ctypes). The main thread never leaves the host's namespace.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23  # since Linux 4.20: our own writes are not read back
SO_SNDBUFFORCE = 32  # asm-generic/socket.h: past net.core.*mem_max, as root
SO_RCVBUFFORCE = 33
SOCKET_BUFFER = 4 << 20

T = TypeVar("T")


def in_namespace(netns: str, make: Callable[[], T]) -> T:
    """``make()`` run in a thread that has entered network namespace ``netns``."""
    result: dict[str, object] = {}

    def enter_and_make() -> None:
        fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns into {netns}: {os.strerror(err)}")
            result["value"] = make()
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc
        finally:
            os.close(fd)

    thread = threading.Thread(target=enter_and_make, name=f"setns-{netns}")
    thread.start()
    thread.join(10)
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]  # type: ignore[return-value]


def open_packet_socket(netns: str, ifname: str) -> socket.socket:
    """A non-blocking raw packet socket on ``ifname`` in ``netns``: whole Ethernet frames.

    Frames the socket itself sends are not delivered back to it, and the
    buffers are large so a burst waits in the kernel rather than being lost.
    """

    def make() -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            sock.bind((ifname, ETH_P_ALL))
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    return in_namespace(netns, make)
