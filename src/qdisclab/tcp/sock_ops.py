"""sock_ops as struct_ops: the ``tcp_ops`` interface and its per-cgroup attach point.

The kernel's cgroup ``sock_ops`` program gets every TCP event through one
entry point and learns which one from ``ctx->op``; maintainers want it moved
to struct_ops (spec B.8). ``TcpOps`` is that move: one optional callback per
event, typed arguments, natural return values. Leaving a callback out costs
nothing and replaces the B.3 callback-flag opt-in.

Callbacks (all optional, at least one required):

=====================  ===========================  =========================
callback               TCP calls it                 returns
=====================  ===========================  =========================
timeout_init(sk)       initial SYN RTO              RTO in ms, or None
rwnd_init(sk)          initial receive window       packets, or None
connect(sk)            before the SYN is built      --
active_established     client handshake done        --
passive_established    server handshake done        --
rtt(sk, rtt_us)        every RTT sample             --
rto(sk)                retransmission timeout       --
retransmit(sk, seq)    each retransmitted segment   --
state_change(sk, o, n) tcp_set_state                --
hdr_opt_len(sk)        sizing the TCP options       bytes to reserve, or None
write_hdr_opt(sk, th)  after kernel options         --
parse_hdr_opt(sk, th)  received header              --
tstamp_tx(sk, seq)     tx timestamp taken           --
tstamp_rx(sk, seq)     data acked (tx tstamp done)  --
=====================  ===========================  =========================

Several ``TcpOps`` attach to one cgroup in the mprog order (``before=``,
``after=``, ``expected_revision=``; :mod:`qdisclab.mprog` does the ordering).
``TcpOpsHook.event`` runs **every** attached callback for the event, in that
order (child cgroup first, then ancestors), and for value-returning events
**the first non-None answer wins**. The kernel's multi-program sock_ops shares
one ``reply`` so the *last* writer wins; we choose the opposite on purpose:
with explicit placement, "put my policy first" (``before=None``) is how a user
says "mine takes priority", and a program that has no opinion (returns None)
does not clobber an earlier answer the way a stray ``reply = 0`` does in C.

>>> class FastRto(TcpOps):
...     id = "fast_rto"
...     def timeout_init(self, sk): return 200
>>> hook = TcpOpsHook()
>>> hook.attach(FastRto())
>>> hook.event(None, "timeout_init"), hook.event(None, "rwnd_init")
(200, None)
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from qdisclab.errors import KernelError
from qdisclab.mprog import BpfObjects, MprogBundle, Program
from qdisclab.mprog.constants import BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID
from qdisclab.mprog.relative import Relative
from qdisclab.ops import Member, StructOpsInterface

if TYPE_CHECKING:
    from qdisclab.tcp.header import TcpHdr
    from qdisclab.tcp.sock import TcpSock

BPF_PROG_TYPE_SOCK_OPS = 13
BPF_PROG_TYPE_STRUCT_OPS = 27
BPF_CGROUP_SOCK_OPS = 3

# Callback name -> does it return a value the TCP stack uses.
TCP_OPS_CALLBACKS: dict[str, bool] = {
    "timeout_init": True,
    "rwnd_init": True,
    "connect": False,
    "active_established": False,
    "passive_established": False,
    "rtt": False,
    "rto": False,
    "retransmit": False,
    "state_change": False,
    "hdr_opt_len": True,
    "write_hdr_opt": False,
    "parse_hdr_opt": False,
    "tstamp_tx": False,
    "tstamp_rx": False,
}
# Non-callback attributes a TcpOps class may define.
_ALLOWED_ATTRS = frozenset({"id", "init", "release"})


class TcpOps:
    """Base of a sock_ops struct_ops implementation; override only the events you need.

    One instance is one attached table (like a struct_ops map): its state is
    shared by every socket of the cgroup; keep per-socket state keyed by ``sk``.
    """

    id: ClassVar[str] = ""

    def timeout_init(self, sk: TcpSock) -> int | None:
        return None

    def rwnd_init(self, sk: TcpSock) -> int | None:
        return None

    def connect(self, sk: TcpSock) -> None:
        return None

    def active_established(self, sk: TcpSock) -> None:
        return None

    def passive_established(self, sk: TcpSock) -> None:
        return None

    def rtt(self, sk: TcpSock, rtt_us: int) -> None:
        return None

    def rto(self, sk: TcpSock) -> None:
        return None

    def retransmit(self, sk: TcpSock, seq: int) -> None:
        return None

    def state_change(self, sk: TcpSock, old: int, new: int) -> None:
        return None

    def hdr_opt_len(self, sk: TcpSock) -> int | None:
        return None

    def write_hdr_opt(self, sk: TcpSock, th: TcpHdr) -> None:
        return None

    def parse_hdr_opt(self, sk: TcpSock, th: TcpHdr) -> None:
        return None

    def tstamp_tx(self, sk: TcpSock, seq: int) -> None:
        return None

    def tstamp_rx(self, sk: TcpSock, seq: int) -> None:
        return None


TCP_OPS = StructOpsInterface(
    "tcp_ops",
    TcpOps,
    [Member(name) for name in TCP_OPS_CALLBACKS],
    require_one_of=(tuple(TCP_OPS_CALLBACKS),),
)


def validate_tcp_ops(cls: type) -> None:
    """struct_ops validation plus the BTF check: no member the interface does not have.

    >>> class Typo(TcpOps):
    ...     id = "typo"
    ...     def on_rtt(self, sk, rtt_us): pass
    >>> try:
    ...     validate_tcp_ops(Typo)
    ... except KernelError as exc:
    ...     print(exc.errno_name)
    EINVAL
    """
    if isinstance(cls, type) and issubclass(cls, TcpOps):
        for klass in cls.__mro__:
            if klass is TcpOps or klass is object:
                break
            for attr, value in vars(klass).items():
                if attr.startswith("_") or attr in _ALLOWED_ATTRS or attr in TCP_OPS_CALLBACKS:
                    continue
                if callable(value):
                    raise KernelError(
                        errno.EINVAL,
                        f"tcp_ops {cls.__name__}: '{attr}' is not a member of tcp_ops",
                    )
    TCP_OPS.validate(cls)


def register_tcp_ops(cls: type) -> type:
    """Decorator: validate and register under ``cls.id`` (EINVAL / EEXIST like struct_ops)."""
    validate_tcp_ops(cls)
    return TCP_OPS.register(cls)


def unregister_tcp_ops(name: str) -> None:
    TCP_OPS.unregister(name)


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


_MISSING = _Missing()
# Where to attach: an attached TcpOps, its program id, None (head/tail), or not given.
Position = TcpOps | int | _Missing | None
Callback = Callable[..., "int | None"]


class TcpOpsHook:
    """One cgroup's ordered list of attached ``TcpOps`` (an mprog bundle behind an adapter).

    ``before``/``after`` take an attached ``TcpOps`` instance, its program id
    (int), or ``None`` for head/tail; ``expected_revision`` gives ``ESTALE``
    when the list changed. ``parent`` hooks run after this one (the kernel's
    effective array: descendants first, then ancestors).
    """

    __slots__ = ("_bundle", "_calls", "_objs", "_ops", "_progs", "_run", "parent")

    def __init__(self, parent: TcpOpsHook | None = None, objs: BpfObjects | None = None) -> None:
        self._objs = objs if objs is not None else BpfObjects()
        self._bundle = MprogBundle(self._objs)
        self._progs: dict[int, Program] = {}  # id(ops) -> its program object
        self._ops: dict[int, TcpOps] = {}  # program id -> the table it stands for
        self._run: tuple[TcpOps, ...] = ()
        # event -> the bound callbacks of the tables that implement it, in run order
        self._calls: dict[str, tuple[Callback, ...]] = dict.fromkeys(TCP_OPS_CALLBACKS, ())
        self.parent = parent

    # -- attach / detach / query ------------------------------------------------
    def _prog(self, ops: TcpOps) -> Program:
        prog = self._progs.get(id(ops))
        if prog is None:
            # The program stands for the table in the mprog ordering; it is never called.
            prog = self._objs.program(
                ops,  # type: ignore[arg-type]
                name=type(ops).id or type(ops).__name__,
                prog_type=BPF_PROG_TYPE_STRUCT_OPS,
            )
            self._progs[id(ops)] = prog
            self._ops[prog.id] = ops
        return prog

    def _relative(self, value: TcpOps | int | None) -> Relative:
        if isinstance(value, TcpOps):
            prog = self._progs.get(id(value))
            if prog is None:
                raise KernelError(errno.ENOENT, f"relative {type(value).__name__} is not attached")
            return prog
        return value

    def _position(self, before: Position, after: Position) -> tuple[int, Relative]:
        flags, rel = 0, None
        value: Position
        for flag, value in ((BPF_F_BEFORE, before), (BPF_F_AFTER, after)):
            if isinstance(value, _Missing):
                continue
            flags |= flag
            if value is not None:
                rel = self._relative(value)
        if isinstance(rel, int) and not isinstance(rel, bool):
            flags |= BPF_F_ID
        return flags, rel

    def attach(
        self,
        ops: TcpOps,
        *,
        before: Position = _MISSING,
        after: Position = _MISSING,
        expected_revision: int = 0,
    ) -> None:
        """Attach ``ops``: no position appends, ``before=None`` prepends, ``after=x`` goes
        behind ``x`` (an attached TcpOps or a program id). EEXIST if already attached.
        """
        validate_tcp_ops(type(ops))
        flags, rel = self._position(before, after)
        self._bundle.attach(self._prog(ops), flags, rel, expected_revision)
        self._rebuild()

    def detach(self, ops: TcpOps, *, expected_revision: int = 0) -> None:
        prog = self._progs.get(id(ops))
        if prog is None:
            raise KernelError(errno.ENOENT, f"{type(ops).__name__} is not attached")
        self._bundle.detach(prog, 0, None, expected_revision)
        self._rebuild()

    @property
    def revision(self) -> int:
        return self._bundle.revision

    @property
    def attached(self) -> tuple[TcpOps, ...]:
        """This cgroup's own list, in run order."""
        return self._run

    def prog_id(self, ops: TcpOps) -> int:
        return self._progs[id(ops)].id

    def _rebuild(self) -> None:
        self._run = run = tuple(self._ops[p.id] for p in self._bundle.programs)
        # A member left NULL costs nothing: only implemented callbacks are listed.
        self._calls = {
            name: tuple(getattr(ops, name) for ops in run if TCP_OPS.implements(type(ops), name))
            for name in TCP_OPS_CALLBACKS
        }

    # -- dispatch -------------------------------------------------------------------
    def effective(self) -> list[TcpOps]:
        """Everything that runs for a socket here: own list, then the ancestors'."""
        out: list[TcpOps] = []
        hook: TcpOpsHook | None = self
        while hook is not None:
            out.extend(hook._run)
            hook = hook.parent
        return out

    def event(self, sk: TcpSock | None, name: str, *args: object) -> int | None:
        """Run ``name`` on every attached implementation; first non-None answer wins."""
        wants_value = TCP_OPS_CALLBACKS.get(name)
        if wants_value is None:
            raise KernelError(errno.EINVAL, f"tcp_ops: unknown event '{name}'")
        answer = None
        hook: TcpOpsHook | None = self
        while hook is not None:
            for fn in hook._calls[name]:
                ret = fn(sk, *args)
                if wants_value and answer is None and ret is not None:
                    answer = ret
            hook = hook.parent
        return answer
