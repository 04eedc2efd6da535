"""Network namespaces and devices that live mode creates, and always removes.

Everything is named ``qdl-<pid>-<role>``: the prefix marks it as qdisclab's,
the pid says which process owns it. ``LiveLab`` (a context manager) sweeps
objects whose owner is dead, makes two endpoint namespaces ``a`` and ``b``
joined through qdisclab, and removes them on exit, on SIGTERM/SIGINT and at
interpreter exit. A process killed with SIGKILL leaves its namespaces behind;
the next start's sweep removes them (and ends the tools still running in them).

Addresses come from 192.0.2.0/24 (TEST-NET-1, never routed) and exist only
inside the namespaces; the host's own interfaces, routes and firewall are
never touched.

>>> owner_pid("qdl-4242-a"), owner_pid("eth0"), owner_pid("qdl-x-a")
(4242, None, None)
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import signal
import struct
import threading
from typing import Any

from qdisclab.live import host
from qdisclab.skb import ETH_HLEN

PREFIX = "qdl-"
IOS = ("tun", "packet", "veth")  # how the namespaces are joined (see LiveLab)
PREFIXLEN = 24
ADDR_A = "192.0.2.1"
ADDR_B = "192.0.2.2"

# linux/if_tun.h
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000


def owned_name(role: str, pid: int | None = None) -> str:
    """The name of a namespace or device ``role`` owned by ``pid`` (default: this process)."""
    return f"{PREFIX}{os.getpid() if pid is None else pid}-{role}"


def owner_pid(name: str) -> int | None:
    """The owning pid encoded in a qdisclab name, or None for names that are not ours."""
    if not name.startswith(PREFIX):
        return None
    pid = name[len(PREFIX) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_namespaces() -> list[str]:
    """Every network namespace name with qdisclab's prefix."""
    out = host.run(["ip", "netns", "list"], seconds=5).stdout
    names = (line.split()[0] for line in out.splitlines() if line.strip())
    return [name for name in names if name.startswith(PREFIX)]


def list_host_links() -> list[str]:
    """Every device in the host's namespace with qdisclab's prefix."""
    out = host.run(["ip", "-o", "link", "show"], seconds=5).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            name = parts[1].strip().split("@", 1)[0]
            if name.startswith(PREFIX):
                names.append(name)
    return names


def remove_namespace(name: str) -> None:
    """End the processes still inside namespace ``name``, then delete it."""
    pids = host.run(["ip", "netns", "pids", name], seconds=5, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    host.run(["ip", "netns", "del", name], seconds=5, check=False)


def sweep_stale() -> list[str]:
    """Remove every prefixed namespace and host device whose owning process is dead."""
    removed = []
    for name in list_namespaces():
        pid = owner_pid(name)
        if pid is None or not _alive(pid):
            remove_namespace(name)
            removed.append(name)
    for name in list_host_links():
        pid = owner_pid(name)
        if pid is None or not _alive(pid):
            host.run(["ip", "link", "del", name], seconds=5, check=False)
            removed.append(name)
    return removed


def open_tun(name: str, vnet_hdr: bool = True) -> int:
    """Create TUN device ``name`` (IP packets, no packet-info header, no offloads); its fd.

    Without ``TUNSETOFFLOAD`` the device offers no TSO/GSO, so the kernel
    segments before the fd and qdisclab's qdisc sees MTU-sized packets.
    ``vnet_hdr`` (``IFF_VNET_HDR``): each packet read or written starts with a
    ``virtio_net_hdr``, so what qdisclab writes may be a merged run of
    segments (``qdisclab.live.gro``), as a NIC's receive offload hands over.
    """
    flags = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
    except OSError:
        os.close(fd)
        raise
    return fd


class LiveLab:
    """Two endpoint namespaces ``a`` (192.0.2.1) and ``b`` (192.0.2.2) and how they are joined.

    ``io="tun"``: each namespace holds a TUN device whose fd qdisclab keeps
    (``fd_a``, ``fd_b``); every packet between them crosses qdisclab. The
    devices carry a ``virtio_net_hdr`` (``vnet_hdr``) so writes can be merged.
    ``io="packet"``: each namespace's veth ends in a third namespace ``m``,
    where qdisclab holds an AF_PACKET socket on each peer: Ethernet frames,
    IP header at ``l3 = ETH_HLEN``.
    ``io="veth"``: a plain veth pair, the kernel's own path (for reference runs
    with the kernel's qdiscs, ``dev_a``/``dev_b``).
    Offloads (TSO, GSO, GRO, checksum) are off on every veth, so packets are
    MTU-sized and carry real checksums.

    >>> with LiveLab() as lab:                      # doctest: +SKIP
    ...     lab.run_in("a", ["ping", "-c", "1", ADDR_B])
    """

    def __init__(self, io: str = "tun") -> None:
        if io not in IOS:
            raise ValueError(f"unknown io {io!r}")
        self.io = io
        self.ns_a = owned_name("a")
        self.ns_b = owned_name("b")
        self.ns_m = owned_name("m")  # io="packet": where qdisclab's packet sockets live
        self.dev_a = owned_name("ta" if io == "tun" else "va")
        self.dev_b = owned_name("tb" if io == "tun" else "vb")
        self.l3 = ETH_HLEN if io == "packet" else 0
        self.vnet_hdr = io == "tun"
        self.fd_a = -1
        self.fd_b = -1
        self._sockets: list[Any] = []
        self._made: list[str] = []
        self._old_handlers: dict[int, Any] = {}
        self._closed = True

    def namespace(self, side: str) -> str:
        return self.ns_a if side == "a" else self.ns_b

    # -- set up -------------------------------------------------------------
    def __enter__(self) -> LiveLab:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Sweep stale objects, then create the namespaces and devices."""
        host.require(host.BASE_TOOLS)
        sweep_stale()
        namespaces = [self.ns_a, self.ns_b] + ([self.ns_m] if self.io == "packet" else [])
        for ns in namespaces:  # a leftover of this very pid (reused) goes too
            if ns in list_namespaces():
                remove_namespace(ns)
        self._closed = False
        atexit.register(self.close)
        self._install_signal_handlers()
        try:
            for ns in namespaces:
                host.run(["ip", "netns", "add", ns], seconds=5)
                self._made.append(ns)
                host.run(["ip", "-n", ns, "link", "set", "lo", "up"], seconds=5)
            if self.io == "tun":
                self.fd_a = open_tun(self.dev_a)
                self.fd_b = open_tun(self.dev_b)
                host.run(["ip", "link", "set", self.dev_a, "netns", self.ns_a], seconds=5)
                host.run(["ip", "link", "set", self.dev_b, "netns", self.ns_b], seconds=5)
            elif self.io == "veth":
                self._veth(self.ns_a, self.dev_a, self.ns_b, self.dev_b)
            else:
                self._veth(self.ns_a, self.dev_a, self.ns_m, owned_name("xa"))
                self._veth(self.ns_b, self.dev_b, self.ns_m, owned_name("xb"))
            for ns, dev, addr in ((self.ns_a, self.dev_a, ADDR_A), (self.ns_b, self.dev_b, ADDR_B)):
                host.run(["ip", "-n", ns, "addr", "add", f"{addr}/{PREFIXLEN}", "dev", dev], 5)
                host.run(["ip", "-n", ns, "link", "set", dev, "up"], seconds=5)
            if self.io == "packet":
                from qdisclab.live.packet_socket import open_packet_socket

                self._sockets = [open_packet_socket(self.ns_m, owned_name(x)) for x in ("xa", "xb")]
                self.fd_a, self.fd_b = (sock.fileno() for sock in self._sockets)
        except BaseException:
            self.close()
            raise

    def _veth(self, ns1: str, dev1: str, ns2: str, dev2: str) -> None:
        """A veth pair ``dev1`` (in ``ns1``) – ``dev2`` (in ``ns2``), up, offloads off."""
        host.run(["ip", "-n", ns1, "link", "add", dev1, "type", "veth", "peer", "name", dev2,
                  "netns", ns2], seconds=5)  # fmt: skip
        for ns, dev in ((ns1, dev1), (ns2, dev2)):
            host.run(["ip", "-n", ns, "link", "set", dev, "up"], seconds=5)
            self.run_in(ns, ["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
                             "tx", "off"], check=False)  # fmt: skip

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # atexit and the context manager still clean up
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._old_handlers[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.close()
        raise SystemExit(128 + signum)

    # -- use ----------------------------------------------------------------
    def run_in(self, ns: str, argv: list[str], seconds: float = 10.0, check: bool = True) -> Any:
        """Run ``argv`` inside namespace ``ns`` (a name, or "a"/"b"), bounded in time."""
        ns = self.namespace(ns) if ns in ("a", "b") else ns
        return host.run(argv, seconds=seconds, netns=ns, check=check)

    # -- tear down ----------------------------------------------------------
    def close(self) -> None:
        """Remove everything this lab made; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._sockets:
            for sock in self._sockets:
                sock.close()
        else:
            for fd in (self.fd_a, self.fd_b):
                if fd >= 0:
                    os.close(fd)  # a TUN device disappears with its last fd
        self._sockets = []
        self.fd_a = self.fd_b = -1
        for ns in reversed(self._made):
            remove_namespace(ns)  # veth pairs go with their namespace
        self._made.clear()
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()
        atexit.unregister(self.close)
