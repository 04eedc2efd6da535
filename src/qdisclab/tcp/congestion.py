"""``tcp_congestion_ops``: the congestion-control ops table, its registry and the Reno helpers.

A congestion control is a ``CongestionOps`` subclass; each socket gets its own
instance (the kernel's ``icsk_ca_priv``), so per-connection state lives on
``self``. Registration validates like ``tcp_validate_congestion_control``:
``ssthresh`` and ``undo_cwnd`` are mandatory, one of ``cong_avoid`` /
``cong_control`` is required (``EINVAL``), ``get_info`` is refused
(``ENOTSUPP``), names are 1-15 characters and unique (``EEXIST``).

>>> class Mine(CongestionOps):
...     name = "doc_mine"
...     def ssthresh(self, sk): return tcp_reno_ssthresh(sk)
...     def cong_avoid(self, sk, ack, acked): tcp_reno_cong_avoid(sk, ack, acked)
...     def undo_cwnd(self, sk): return tcp_reno_undo_cwnd(sk)
>>> register_cc(Mine) is Mine and lookup_cc("doc_mine") is Mine
True
>>> unregister_cc("doc_mine")
"""

from __future__ import annotations

import errno
import random
from typing import TYPE_CHECKING, ClassVar

from mypy_extensions import mypyc_attr

from qdisclab.errors import KernelError
from qdisclab.ops import KFUNCS, Member, StructOpsInterface
from qdisclab.tcp.cc import BUILTIN_CC

if TYPE_CHECKING:
    from qdisclab.tcp.sock_base import TcpSockBase

TCP_CA_NAME_MAX = 16
TCP_CONG_NON_RESTRICTED = 0x1
TCP_CONG_NEEDS_ECN = 0x2
TCP_CONG_MASK = TCP_CONG_NON_RESTRICTED | TCP_CONG_NEEDS_ECN

TCP_CA_Open = 0
TCP_CA_Disorder = 1
TCP_CA_CWR = 2
TCP_CA_Recovery = 3
TCP_CA_Loss = 4

CA_EVENT_TX_START = 0
CA_EVENT_CWND_RESTART = 1
CA_EVENT_COMPLETE_CWR = 2
CA_EVENT_LOSS = 3
CA_EVENT_ECN_NO_CE = 4
CA_EVENT_ECN_IS_CE = 5

CA_ACK_SLOWPATH = 1
CA_ACK_WIN_UPDATE = 2
CA_ACK_ECE = 4

TCP_INFINITE_SSTHRESH = 0x7FFFFFFF

# tp->ecn_flags (include/net/tcp.h): algorithms read them, the stack sets them.
TCP_ECN_OK = 1
TCP_ECN_QUEUE_CWR = 2
TCP_ECN_DEMAND_CWR = 4
TCP_ECN_SEEN = 8


class AckSample:
    """``struct ack_sample``: handed to ``pkts_acked`` (one reused instance per socket)."""

    __slots__ = ("in_flight", "pkts_acked", "rtt_us")

    in_flight: int
    pkts_acked: int
    rtt_us: int

    def __init__(self, pkts_acked: int = 0, rtt_us: int = -1, in_flight: int = 0) -> None:
        self.pkts_acked = pkts_acked
        self.rtt_us = rtt_us
        self.in_flight = in_flight


class RateSample:
    """``struct rate_sample`` (tcp_rate.c): the delivery-rate sample handed to ``cong_control``.

    ``interval_us`` is -1 when the sample is invalid (``tcp_rate_gen``).
    """

    __slots__ = (
        "acked_sacked",
        "delivered",
        "delivered_ce",
        "interval_us",
        "is_ack_delayed",
        "is_app_limited",
        "is_retrans",
        "last_end_seq",
        "losses",
        "prior_delivered",
        "prior_delivered_ce",
        "prior_in_flight",
        "prior_mstamp",
        "rtt_us",
        "snd_interval_us",
    )

    acked_sacked: int
    delivered: int
    delivered_ce: int
    interval_us: int
    is_ack_delayed: bool
    is_app_limited: bool
    is_retrans: bool
    last_end_seq: int
    losses: int
    prior_delivered: int
    prior_delivered_ce: int
    prior_in_flight: int
    prior_mstamp: int
    rtt_us: int
    snd_interval_us: int

    def __init__(self, **fields: int) -> None:
        self.reset()
        for name, value in fields.items():
            setattr(self, name, value)  # slots reject unknown names

    def reset(self) -> None:
        self.delivered = 0
        self.prior_delivered = 0
        self.prior_delivered_ce = 0
        self.delivered_ce = 0
        self.interval_us = -1
        self.snd_interval_us = 0
        self.rtt_us = -1
        self.losses = 0
        self.acked_sacked = 0
        self.prior_in_flight = 0
        self.is_app_limited = False
        self.is_retrans = False
        self.is_ack_delayed = False
        self.prior_mstamp = 0
        self.last_end_seq = 0


@mypyc_attr(allow_interpreted_subclasses=True)
class CongestionOps:
    """Base of every congestion control: subclass, set ``name``, implement the members.

    Every member has the kernel's signature; ``sk`` is the ``TcpSockBase``. The
    class may be compiled: user controls (and the BPF binding) subclass it
    from interpreted Python, so ``name`` and ``flags`` are class variables.
    """

    name: ClassVar[str] = ""
    flags: ClassVar[int] = 0

    def init(self, sk: TcpSockBase) -> None:
        pass

    def release(self, sk: TcpSockBase) -> None:
        pass

    def ssthresh(self, sk: TcpSockBase) -> int:  # mandatory
        raise NotImplementedError

    def cong_avoid(self, sk: TcpSockBase, ack: int, acked: int) -> None:
        raise NotImplementedError

    def set_state(self, sk: TcpSockBase, new_state: int) -> None:
        pass

    def cwnd_event(self, sk: TcpSockBase, ev: int) -> None:
        pass

    def in_ack_event(self, sk: TcpSockBase, flags: int) -> None:
        pass

    def pkts_acked(self, sk: TcpSockBase, sample: AckSample) -> None:
        pass

    def min_tso_segs(self, sk: TcpSockBase) -> int:
        return 2

    def cong_control(self, sk: TcpSockBase, ack: int, flag: int, rs: RateSample) -> None:
        raise NotImplementedError

    def undo_cwnd(self, sk: TcpSockBase) -> int:  # mandatory
        raise NotImplementedError

    def sndbuf_expand(self, sk: TcpSockBase) -> int:
        return 2

    # unsupported for BPF (registration refuses it)
    def get_info(self, sk: TcpSockBase, ext: int, attr: object, info: object) -> int:
        return 0


TCP_CONGESTION_OPS = StructOpsInterface(
    "tcp_congestion_ops",
    CongestionOps,
    [
        Member("init"),
        Member("release"),
        Member("ssthresh", mandatory=True),
        Member("cong_avoid"),
        Member("set_state"),
        Member("cwnd_event"),
        Member("in_ack_event"),
        Member("pkts_acked"),
        Member("min_tso_segs"),
        Member("cong_control"),
        Member("undo_cwnd", mandatory=True),
        Member("sndbuf_expand"),
        Member("get_info", supported=False),
    ],
    id_attr="name",
    id_max_len=TCP_CA_NAME_MAX - 1,
    require_one_of=(("cong_avoid", "cong_control"),),
    builtin_modules=BUILTIN_CC,
)

_default = ["reno"]


def _check_flags(cls: type) -> None:
    flags = getattr(cls, "flags", 0)
    if not isinstance(flags, int) or flags & ~TCP_CONG_MASK:
        raise KernelError(
            errno.EINVAL,
            f"tcp_congestion_ops {cls.__name__}: flags {flags!r} has bits outside TCP_CONG_MASK",
        )


def register_cc(cls: type) -> type:
    """Register a congestion control (decorator); EINVAL/ENOTSUPP/EEXIST as the kernel."""
    _check_flags(cls)
    return TCP_CONGESTION_OPS.register(cls)  # a built-in's name is taken from the start


def unregister_cc(name: str) -> None:
    """Remove ``name``; sockets already using it keep their instance."""
    TCP_CONGESTION_OPS.unregister(name)
    if _default[0] == name:
        _default[0] = "reno"


def update_cc(name: str, cls: type) -> None:
    """Replace the class behind ``name`` (struct_ops link update); the name must stay."""
    _check_flags(cls)
    TCP_CONGESTION_OPS.update(name, cls)


def lookup_cc(name: str) -> type | None:
    """The class registered as ``name`` (a built-in is imported on first use), or None."""
    return TCP_CONGESTION_OPS.lookup(name)


def set_default_cc(name: str) -> None:
    """``net.ipv4.tcp_congestion_control``: ENOENT when ``name`` is not registered."""
    if name not in TCP_CONGESTION_OPS.available():
        raise KernelError(errno.ENOENT, f"tcp_congestion_ops: no congestion control '{name}'")
    _default[0] = name


def get_default_cc() -> str:
    return _default[0]


def available_cc() -> list[str]:
    """``net.ipv4.tcp_available_congestion_control``: registered, and built-ins not yet loaded."""
    return TCP_CONGESTION_OPS.available()


# -- the generic cwnd machinery and Reno (tcp_cong.c) as kfuncs --------------------


def install_cc(sk: TcpSockBase, ops: CongestionOps) -> None:
    """Make ``ops`` the socket's congestion control, with the flags the ACK path tests.

    The kernel calls ``cong_control`` and ``in_ack_event`` only when the control
    has them; the socket keeps that answer as two flags, so every switch (a
    setsockopt, a contained fault's fall-back to reno) goes through here.
    """
    cls = type(ops)
    sk.icsk_ca_ops = ops
    sk.cong_control_impl = TCP_CONGESTION_OPS.implements(cls, "cong_control")
    sk.in_ack_event_impl = TCP_CONGESTION_OPS.implements(cls, "in_ack_event")


def tcp_snd_cwnd(sk: TcpSockBase) -> int:
    return sk.snd_cwnd


def tcp_snd_cwnd_set(sk: TcpSockBase, v: int) -> None:
    sk.snd_cwnd = v


def tcp_in_slow_start(sk: TcpSockBase) -> bool:
    return sk.snd_cwnd < sk.snd_ssthresh


def tcp_packets_in_flight(sk: TcpSockBase) -> int:
    """packets_out - left_out + retrans_out."""
    return sk.packets_out - (sk.sacked_out + sk.lost_out) + sk.retrans_out


def tcp_is_cwnd_limited(sk: TcpSockBase) -> bool:
    if sk.is_cwnd_limited:
        return True
    return sk.snd_cwnd < sk.snd_ssthresh and sk.snd_cwnd < 2 * sk.max_packets_out


def tcp_slow_start(sk: TcpSockBase, acked: int) -> int:
    """Grow cwnd by ``acked`` up to ssthresh; returns the leftover acked packets."""
    cwnd = sk.snd_cwnd
    new = min(cwnd + acked, sk.snd_ssthresh)
    acked -= new - cwnd
    sk.snd_cwnd = min(new, sk.snd_cwnd_clamp)
    return acked


def tcp_cong_avoid_ai(sk: TcpSockBase, w: int, acked: int) -> None:
    """Additive increase: +1 packet per ``w`` packets acked."""
    if sk.snd_cwnd_cnt >= w:
        sk.snd_cwnd_cnt = 0
        sk.snd_cwnd += 1
    sk.snd_cwnd_cnt += acked
    if sk.snd_cwnd_cnt >= w:
        delta = sk.snd_cwnd_cnt // w
        sk.snd_cwnd_cnt -= delta * w
        sk.snd_cwnd += delta
    if sk.snd_cwnd > sk.snd_cwnd_clamp:
        sk.snd_cwnd = sk.snd_cwnd_clamp


def tcp_reno_cong_avoid(sk: TcpSockBase, ack: int, acked: int) -> None:
    if not tcp_is_cwnd_limited(sk):
        return
    if sk.snd_cwnd < sk.snd_ssthresh:
        acked = tcp_slow_start(sk, acked)
        if not acked:
            return
    tcp_cong_avoid_ai(sk, sk.snd_cwnd, acked)


def tcp_reno_ssthresh(sk: TcpSockBase) -> int:
    return max(sk.snd_cwnd >> 1, 2)


def tcp_reno_undo_cwnd(sk: TcpSockBase) -> int:
    return max(sk.snd_cwnd, sk.prior_cwnd)


def bpf_get_prandom_u32(sk: TcpSockBase) -> int:
    """A pseudo-random u32 for this socket's congestion control, from a stream of the run seed.

    The kernel's helper takes no argument (per-CPU state); here the socket
    names its stream (``cc:<flow>``), so every flow is reproducible per seed.
    """
    rng = sk.cc_rng
    if rng is None:
        rng = sk.cc_rng = _cc_stream(sk)
    return rng.getrandbits(32)


def _cc_stream(sk: TcpSockBase) -> random.Random:
    """The socket's ``cc:<flow>`` stream of the run seed (a bare socket model seeds by name)."""
    world = getattr(getattr(sk, "node", None), "world", None)
    name = f"cc:{getattr(sk, 'name', '?')}"
    if world is None:
        return random.Random(name)
    stream: random.Random = world.rng.stream(name)
    return stream


_IFACE = "tcp_congestion_ops"
KFUNCS.register(
    "bpf_get_prandom_u32", _IFACE, {"*"}, 0,
    "a pseudo-random u32 from the socket's stream of the run seed", bpf_get_prandom_u32,
)  # fmt: skip
for _name, _doc in (
    ("tcp_slow_start", "slow-start growth, returns leftover acked"),
    ("tcp_cong_avoid_ai", "additive increase: +1 per w acked"),
    ("tcp_reno_cong_avoid", "Reno congestion avoidance"),
    ("tcp_reno_ssthresh", "max(cwnd/2, 2)"),
    ("tcp_reno_undo_cwnd", "max(cwnd, prior_cwnd)"),
    ("tcp_in_slow_start", "cwnd < ssthresh"),
    ("tcp_is_cwnd_limited", "is the sender limited by cwnd"),
    ("tcp_packets_in_flight", "packets_out - left_out + retrans_out"),
    ("tcp_snd_cwnd", "read snd_cwnd"),
    ("tcp_snd_cwnd_set", "write snd_cwnd"),
):
    # The function itself: a compiled congestion control calling the kfunc runs it.
    KFUNCS.register(_name, _IFACE, {"*"}, 0, _doc, globals()[_name])
