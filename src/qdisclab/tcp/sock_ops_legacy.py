"""The classic cgroup sock_ops program, run through the ``TcpOps`` callbacks.

``LegacySockOps(prog)`` is a ``TcpOps`` whose every callback builds the
kernel's ``bpf_sock_ops`` context (``ctx.op`` with the B.2 numbers,
``ctx.args``, ``ctx.reply``), runs ``prog(ctx) -> int`` and turns the reply
into the callback's natural return value, applying the B.3 callback-flag
gating that the struct_ops form replaces with "implemented or not". It shows
the two forms are the same machine.

Reply rules (``tcp_call_bpf``): a program returning 0 (bit 0 clear) makes the
run fail, so the stack sees -1, i.e. "no answer" (None here). TIMEOUT_INIT
replies in jiffies (HZ = 1000 here, so ms); a reply <= 0 means the default.
RWND_INIT <= 0 means the default. HDR_OPT_LEN answers through
``bpf_reserve_hdr_opt``.

>>> def prog(ctx):
...     if ctx.op == BPF_SOCK_OPS_TIMEOUT_INIT:
...         ctx.reply = 300
...     return 1
>>> LegacySockOps(prog).timeout_init(sk=None)
300
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qdisclab.tcp.sock_ops import TcpOps

if TYPE_CHECKING:
    from qdisclab.tcp.header import TcpHdr
    from qdisclab.tcp.sock import TcpSock

# include/uapi/linux/bpf.h: enum { BPF_SOCK_OPS_VOID, ... }
BPF_SOCK_OPS_VOID = 0
BPF_SOCK_OPS_TIMEOUT_INIT = 1
BPF_SOCK_OPS_RWND_INIT = 2
BPF_SOCK_OPS_TCP_CONNECT_CB = 3
BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB = 4
BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB = 5
BPF_SOCK_OPS_NEEDS_ECN = 6
BPF_SOCK_OPS_BASE_RTT = 7
BPF_SOCK_OPS_RTO_CB = 8
BPF_SOCK_OPS_RETRANS_CB = 9
BPF_SOCK_OPS_STATE_CB = 10
BPF_SOCK_OPS_TCP_LISTEN_CB = 11
BPF_SOCK_OPS_RTT_CB = 12
BPF_SOCK_OPS_PARSE_HDR_OPT_CB = 13
BPF_SOCK_OPS_HDR_OPT_LEN_CB = 14
BPF_SOCK_OPS_WRITE_HDR_OPT_CB = 15
BPF_SOCK_OPS_TSTAMP_SCHED_CB = 16
BPF_SOCK_OPS_TSTAMP_SND_SW_CB = 17
BPF_SOCK_OPS_TSTAMP_SND_HW_CB = 18
BPF_SOCK_OPS_TSTAMP_ACK_CB = 19
BPF_SOCK_OPS_TSTAMP_SENDMSG_CB = 20

# B.3 callback flags
BPF_SOCK_OPS_RTO_CB_FLAG = 1 << 0
BPF_SOCK_OPS_RETRANS_CB_FLAG = 1 << 1
BPF_SOCK_OPS_STATE_CB_FLAG = 1 << 2
BPF_SOCK_OPS_RTT_CB_FLAG = 1 << 3
BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG = 1 << 4
BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG = 1 << 5
BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG = 1 << 6
BPF_SOCK_OPS_ALL_CB_FLAGS = 0x7F
SK_BPF_CB_TX_TIMESTAMPING = 1 << 0  # sk->sk_bpf_cb_flags, set via SK_BPF_CB_FLAGS
MAX_TCP_OPTION_SPACE = 40

_UNLOCKED_OPS = frozenset(range(BPF_SOCK_OPS_TSTAMP_SCHED_CB, BPF_SOCK_OPS_TSTAMP_SENDMSG_CB + 1))


class SockOpsCtx:
    """``struct bpf_sock_ops`` as the program sees it (fields read off the socket)."""

    __slots__ = (
        "args",
        "is_fullsock",
        "op",
        "remaining_opt_len",
        "reply",
        "reserved",
        "sk",
        "skb_data",
    )

    def __init__(self, sk: TcpSock | None, op: int, args: tuple[int, ...] = ()) -> None:
        self.sk = sk
        self.op = op
        self.args = [*args, 0, 0, 0, 0][:4]
        # args[] overlays reply: with arguments, reply starts as args[0]
        self.reply = self.args[0]
        self.is_fullsock = 1 if sk is not None else 0
        self.remaining_opt_len = getattr(sk, "remaining_opt_len", MAX_TCP_OPTION_SPACE)
        self.reserved = 0
        self.skb_data: TcpHdr | None = None

    @property
    def bpf_sock_ops_cb_flags(self) -> int:
        return getattr(self.sk, "bpf_sock_ops_cb_flags", 0)

    def __getattr__(self, name: str) -> Any:  # a program context: any TCP field, by name
        # TCP fields (snd_cwnd, srtt_us, ...) read through; 0 when not a full socket
        if self.sk is None:
            return 0
        return getattr(self.sk, name, 0)


def bpf_sock_ops_cb_flags_set(ctx: SockOpsCtx, argval: int) -> int:
    """Replace the socket's callback flags; returns the unsupported bits (or -errno)."""
    if ctx.sk is None:  # not a full socket
        return -errno.EINVAL
    if ctx.op in _UNLOCKED_OPS:
        return -errno.EOPNOTSUPP
    ctx.sk.bpf_sock_ops_cb_flags = argval & BPF_SOCK_OPS_ALL_CB_FLAGS
    return argval & ~BPF_SOCK_OPS_ALL_CB_FLAGS


def bpf_reserve_hdr_opt(ctx: SockOpsCtx, length: int, flags: int = 0) -> int:
    """Reserve option space; only in HDR_OPT_LEN_CB. 0, -EPERM, -EINVAL or -ENOSPC."""
    if ctx.op != BPF_SOCK_OPS_HDR_OPT_LEN_CB:
        return -errno.EPERM
    if flags or length < 2:
        return -errno.EINVAL
    if length > ctx.remaining_opt_len:
        return -errno.ENOSPC
    ctx.remaining_opt_len -= length
    ctx.reserved += length
    return 0


class LegacySockOps(TcpOps):
    """Run one classic ``prog(ctx) -> int`` sock_ops program behind the TcpOps callbacks.

    Every instance carries its own program; the class id is ``legacy_sockops``.
    """

    id = "legacy_sockops"

    def __init__(self, prog: Callable[[SockOpsCtx], int]) -> None:
        self.prog = prog

    def _call(self, sk: TcpSock | None, op: int, *args: int) -> tuple[bool, SockOpsCtx]:
        ctx = SockOpsCtx(sk, op, args)
        ok = bool(self.prog(ctx) & 1)
        return ok, ctx

    @staticmethod
    def _flag(sk: TcpSock | None, flag: int) -> bool:
        return bool(getattr(sk, "bpf_sock_ops_cb_flags", 0) & flag)

    def timeout_init(self, sk: TcpSock | None) -> int | None:
        ok, ctx = self._call(sk, BPF_SOCK_OPS_TIMEOUT_INIT)
        return ctx.reply if ok and ctx.reply > 0 else None

    def rwnd_init(self, sk: TcpSock | None) -> int | None:
        ok, ctx = self._call(sk, BPF_SOCK_OPS_RWND_INIT)
        return ctx.reply if ok and ctx.reply > 0 else None

    def connect(self, sk: TcpSock | None) -> None:
        self._call(sk, BPF_SOCK_OPS_TCP_CONNECT_CB)

    def active_established(self, sk: TcpSock | None) -> None:
        self._call(sk, BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)

    def passive_established(self, sk: TcpSock | None) -> None:
        self._call(sk, BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)

    def rtt(self, sk: TcpSock | None, rtt_us: int) -> None:
        if self._flag(sk, BPF_SOCK_OPS_RTT_CB_FLAG):
            self._call(sk, BPF_SOCK_OPS_RTT_CB, rtt_us, getattr(sk, "srtt_us", 0))

    def rto(self, sk: TcpSock | None) -> None:
        if sk is not None and self._flag(sk, BPF_SOCK_OPS_RTO_CB_FLAG):
            self._call(sk, BPF_SOCK_OPS_RTO_CB, sk.icsk_retransmits, sk.icsk_rto, 0)

    def retransmit(self, sk: TcpSock | None, seq: int) -> None:
        if self._flag(sk, BPF_SOCK_OPS_RETRANS_CB_FLAG):
            self._call(sk, BPF_SOCK_OPS_RETRANS_CB, seq, 1, 0)

    def state_change(self, sk: TcpSock | None, old: int, new: int) -> None:
        if self._flag(sk, BPF_SOCK_OPS_STATE_CB_FLAG):
            self._call(sk, BPF_SOCK_OPS_STATE_CB, old, new)

    def hdr_opt_len(self, sk: TcpSock | None) -> int | None:
        if not self._flag(sk, BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG):
            return None
        ok, ctx = self._call(sk, BPF_SOCK_OPS_HDR_OPT_LEN_CB)
        return ctx.reserved if ok and ctx.reserved else None

    def write_hdr_opt(self, sk: TcpSock | None, th: TcpHdr) -> None:
        if self._flag(sk, BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG):
            ctx = SockOpsCtx(sk, BPF_SOCK_OPS_WRITE_HDR_OPT_CB)
            ctx.skb_data = th
            self.prog(ctx)

    def parse_hdr_opt(self, sk: TcpSock | None, th: TcpHdr) -> None:
        unknown = bool(getattr(th, "has_unknown_opt", False))
        if self._flag(sk, BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG) or (
            unknown and self._flag(sk, BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG)
        ):
            self._call(sk, BPF_SOCK_OPS_PARSE_HDR_OPT_CB)

    def _tstamp_enabled(self, sk: TcpSock | None) -> bool:
        return bool(getattr(sk, "sk_bpf_cb_flags", 0) & SK_BPF_CB_TX_TIMESTAMPING)

    def tstamp_tx(self, sk: TcpSock | None, seq: int) -> None:
        if self._tstamp_enabled(sk):
            self._call(sk, BPF_SOCK_OPS_TSTAMP_SND_SW_CB, seq)

    def tstamp_rx(self, sk: TcpSock | None, seq: int) -> None:
        # the stack's "acked" tx-timestamp point: TSTAMP_ACK_CB
        if self._tstamp_enabled(sk):
            self._call(sk, BPF_SOCK_OPS_TSTAMP_ACK_CB, seq)
