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


# -- batched I/O: recvmmsg(2) / sendmmsg(2) through libc ------------------------------
MSG_DONTWAIT = 0x40


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _SendIovec(ctypes.Structure):
    # iov_base takes a bytes object as it is: no copy, no cast per frame
    _fields_ = [("iov_base", ctypes.c_char_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_Iovec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


_MSG_LEN_WORD = _Mmsghdr.msg_len.offset // 4  # msg_len as a 32-bit word of each entry
_WORDS = ctypes.sizeof(_Mmsghdr) // 4


_libc = ctypes.CDLL(None, use_errno=True)  # CDLL calls release the GIL while they run
_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(_Mmsghdr), ctypes.c_uint, ctypes.c_int,
                      ctypes.c_void_p]  # fmt: skip
_sendmmsg = _libc.sendmmsg
_sendmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(_Mmsghdr), ctypes.c_uint, ctypes.c_int]


class MmsgReader:
    """Up to ``batch`` datagrams (frames of a packet socket) per ``recvmmsg`` call on ``fd``.

    The buffers are allocated once; ``read()`` returns the frames that were
    waiting, as bytes, without blocking (an empty list when none were).
    """

    __slots__ = ("_addresses", "_fd", "_iovecs", "_lens", "_msgs", "batch", "buffers")

    def __init__(self, fd: int, batch: int = 64, size: int = 65536) -> None:
        self._fd = fd
        self.batch = batch
        self.buffers = [ctypes.create_string_buffer(size) for _ in range(batch)]
        self._addresses = [ctypes.addressof(b) for b in self.buffers]
        iovecs = (_Iovec * batch)(*((a, size) for a in self._addresses))
        self._msgs = (_Mmsghdr * batch)()
        for i in range(batch):
            self._msgs[i].msg_hdr.msg_iov = ctypes.pointer(iovecs[i])
            self._msgs[i].msg_hdr.msg_iovlen = 1
        self._iovecs = iovecs  # kept alive with the headers that point into it
        self._lens = memoryview(self._msgs).cast("B").cast("I")[_MSG_LEN_WORD::_WORDS]

    def read(self) -> list[bytes]:
        """The frames waiting on the socket, up to ``batch`` (``OSError`` on a socket error)."""
        n = _recvmmsg(self._fd, self._msgs, self.batch, MSG_DONTWAIT, None)
        if n < 0:
            err = ctypes.get_errno()
            if err in (11, 4):  # EAGAIN, EINTR: nothing waiting
                return []
            raise OSError(err, os.strerror(err))
        string_at = ctypes.string_at
        return list(map(string_at, self._addresses[:n], self._lens[:n]))


class MmsgWriter:
    """Frames sent on ``fd`` with one ``sendmmsg`` call per batch (up to ``batch``)."""

    __slots__ = ("_fd", "_iovecs", "_msgs", "batch")

    def __init__(self, fd: int, batch: int = 64) -> None:
        self._fd = fd
        self.batch = batch
        self._iovecs = (_SendIovec * batch)()
        self._msgs = (_Mmsghdr * batch)()
        for i in range(batch):
            self._msgs[i].msg_hdr.msg_iov = ctypes.cast(ctypes.pointer(self._iovecs[i]),
                                                        ctypes.POINTER(_Iovec))  # fmt: skip
            self._msgs[i].msg_hdr.msg_iovlen = 1

    def write(self, frames: list[bytes]) -> tuple[int, int, int, int]:
        """Send ``frames`` in order: how many the kernel took, their bytes, how many it
        refused, and the ``sendmmsg`` calls that took."""
        sent = sent_bytes = refused = calls = 0
        iovecs = self._iovecs
        i = 0
        while i < len(frames):
            chunk = frames[i : i + self.batch]
            for j, frame in enumerate(chunk):  # the frames stay alive in ``frames`` meanwhile
                iovec = iovecs[j]
                iovec.iov_base = frame
                iovec.iov_len = len(frame)
            n = _sendmmsg(self._fd, self._msgs, len(chunk), 0)
            calls += 1
            if n <= 0:  # the first frame of the chunk was refused: count it and go on
                refused += 1
                i += 1
                continue
            sent += n
            sent_bytes += sum(len(frame) for frame in chunk[:n])
            i += n
        return sent, sent_bytes, refused, calls
