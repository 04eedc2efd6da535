"""One tcx direction of a device: the mprog hook, the classic (clsact) filters, the runner.

``TcxHook.handle`` is what the device calls (``dev.ingress_hook`` /
``dev.egress_hook``); it is installed only while the direction has programs
or classic filters, so an empty device pays nothing. The runner follows
``tcx_run``/``tcx_action_code`` and ``sch_handle_ingress``/``egress``:

* programs run in order; the first result other than TCX_NEXT stops the chain;
* PASS copies ``tc_classid`` into ``tc_index`` and accepts; DROP drops
  (ledger reason ``DROP_TCX``); REDIRECT sends the packet where
  :func:`~qdisclab.tcx.context.bpf_redirect` said;
* NEXT, or any reserved value (1, 3, 4, 5, 6, 8, ...), falls back to the
  classic filters of a clsact/ingress qdisc (TC_ACT_UNSPEC continues with the
  next filter, TC_ACT_OK passes, TC_ACT_SHOT drops, TC_ACT_REDIRECT redirects,
  STOLEN/QUEUED/TRAP consume the packet), and without a verdict the packet passes.

>>> from qdisclab.net import World
>>> from qdisclab.tcx import Tcx, TCX_DROP
>>> w = World(); a, b = w.add_host("A"), w.add_host("B"); lk = w.connect(a, b)
>>> tcx = Tcx.of(lk.a)
>>> lk.a.egress_hook is None
True
>>> tcx.egress.attach(tcx.load(lambda ctx: TCX_DROP, name="drop"))
>>> lk.a.egress_hook is not None, tcx.egress.query().revision
(True, 2)
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

from qdisclab.errors import ExtensionFault, KernelError
from qdisclab.mprog import BPF_LINK_TYPE_TCX, BPF_TCX_INGRESS, BpfObjects, Hook, Link
from qdisclab.mprog.objects import ProgFunc
from qdisclab.ops import POLICY_CONTAIN
from qdisclab.sim.tracepoint import tracepoint
from qdisclab.skb import DROP_FAULT, SkBuff, skb_drop

from .constants import (
    BPF_F_INGRESS,
    DROP_TCX_REDIRECT,
    HOOK_DROP,
    HOOK_PASS,
    HOOK_STOLEN,
    TC_ACT_QUEUED,
    TC_ACT_REDIRECT,
    TC_ACT_SHOT,
    TC_ACT_STOLEN,
    TC_ACT_TRAP,
    TC_ACT_UNSPEC,
    XMIT_RECURSION_LIMIT,
)
from .context import REDIRECT_INFO, SkbContext
from .netdev import HookFn, TcxDevice
from .tracepoints import TCX_PROG_RUN

DROP_TC_STOLEN = "tc_stolen"  # a classic action consumed the packet (STOLEN/QUEUED/TRAP)
_CONSUMED = (TC_ACT_STOLEN, TC_ACT_QUEUED, TC_ACT_TRAP)


class TcxStats:
    """Per-direction counters, by reason. Only non-pass outcomes are counted (cheap path)."""

    __slots__ = ("classic_drop", "classic_redirect", "drop", "redirect_egress",
                 "redirect_failed", "redirect_ingress", "stolen")  # fmt: skip

    def __init__(self) -> None:
        self.drop = 0  # TCX_DROP from a program
        self.classic_drop = 0  # TC_ACT_SHOT from a classic filter
        self.redirect_ingress = 0
        self.redirect_egress = 0
        self.classic_redirect = 0  # of which the classic filter asked
        self.redirect_failed = 0  # target missing/down or loop: dropped
        self.stolen = 0  # classic STOLEN/QUEUED/TRAP

    def as_dict(self) -> dict[str, int]:
        # Spelled out: a compiled class keeps no ``__slots__`` to iterate.
        return {"classic_drop": self.classic_drop, "classic_redirect": self.classic_redirect,
                "drop": self.drop, "redirect_egress": self.redirect_egress,
                "redirect_failed": self.redirect_failed,
                "redirect_ingress": self.redirect_ingress, "stolen": self.stolen}  # fmt: skip


class TcxLink(Link):
    """A tcx link (BPF_LINK_TYPE_TCX); ``ifindex`` reads 0 once the device is gone."""

    __slots__ = ()

    link_type: ClassVar[int] = BPF_LINK_TYPE_TCX

    @property
    def ifindex(self) -> int:
        hook = self.hook
        return hook.dev.ifindex if isinstance(hook, TcxHook) else 0

    def info(self) -> dict[str, int]:
        """``BPF_OBJ_GET_INFO_BY_FD``: type, id, prog_id, tcx.ifindex, tcx.attach_type."""
        return {"type": self.link_type, "id": self.id, "prog_id": self.prog.id,
                "ifindex": self.ifindex, "attach_type": self.attach_type}  # fmt: skip

    def fdinfo(self) -> str:
        where = "ingress" if self.attach_type == BPF_TCX_INGRESS else "egress"
        return f"link_type:\ttcx\nlink_id:\t{self.id}\nprog_id:\t{self.prog.id}\n" \
               f"ifindex:\t{self.ifindex}\nattach_type:\t{where}\n"  # fmt: skip


FilterFunc = Callable[[SkbContext], int]  # ctx -> TC_ACT_*


class ClassicFilter:
    """A classic tc filter (cls_bpf direct-action): ``func(ctx) -> TC_ACT_*``."""

    __slots__ = ("func", "handle", "prio")

    def __init__(self, func: FilterFunc, prio: int, handle: int) -> None:
        self.func = func
        self.prio = prio
        self.handle = handle

    def __repr__(self) -> str:
        return f"<ClassicFilter prio {self.prio} handle {self.handle}>"


class TcxHook(Hook):
    """A tcx hook bound to a device direction. Keyword API from :class:`~qdisclab.mprog.Hook`."""

    __slots__ = (
        "classic",
        "ctx",
        "dev",
        "devices",
        "faulty",
        "handle",
        "ingress",
        "stats",
        "tp_prog_run",
    )

    def __init__(self, objs: BpfObjects, attach_type: int, dev: TcxDevice) -> None:
        self.faulty: tuple[ProgFunc, ...] = ()  # programs detached from the datapath by a fault
        super().__init__(objs, attach_type, link_class=TcxLink)
        self.dev = dev
        self.devices = dev.world.devices  # ifindex -> device, for redirects
        self.ingress = attach_type == BPF_TCX_INGRESS
        self.ctx = SkbContext(dev, "ingress" if self.ingress else "egress")
        self.classic: tuple[ClassicFilter, ...] = ()
        self.stats = TcxStats()
        self.tp_prog_run = tracepoint(dev.sched, TCX_PROG_RUN)
        self.handle: HookFn = self._handle  # bound once: the device calls it per packet

    # -- keeping the device slot in step with the hook --
    def _rebuild(self) -> None:
        super()._rebuild()
        if self.faulty:  # contained faulty programs stay out of the datapath
            self.progs = tuple(f for f in self.progs if f not in self.faulty)
        self._sync()

    def _sync(self) -> None:
        runner = self.handle if (self.progs or self.classic) else None
        if self.ingress:
            self.dev.ingress_hook = runner
        else:
            self.dev.egress_hook = runner

    # -- classic filters (clsact miniq) --
    def add_filter(self, func: FilterFunc, prio: int = 1, handle: int = 1) -> ClassicFilter:
        """``tc filter add dev D ingress|egress prio P handle H bpf da obj ...``.

        Needs a clsact (or, for ingress, an ingress) qdisc: EINVAL otherwise;
        EEXIST for a taken (prio, handle).
        """
        if not self.miniq_active:
            raise KernelError(errno.EINVAL, f"{self.dev.name}: no clsact/ingress qdisc")
        if any(f.prio == prio and f.handle == handle for f in self.classic):
            raise KernelError(errno.EEXIST, f"filter prio {prio} handle {handle} exists")
        flt = ClassicFilter(func, prio, handle)
        self.classic = tuple(sorted((*self.classic, flt), key=lambda f: (f.prio, f.handle)))
        self._sync()
        return flt

    def del_filter(self, prio: int | None = None, handle: int | None = None) -> None:
        """Delete matching filters (no arguments: all of them)."""
        self.classic = tuple(f for f in self.classic
                             if (prio is not None and f.prio != prio)
                             or (handle is not None and f.handle != handle))  # fmt: skip
        self._sync()

    # -- the datapath --
    def run_programs(self, skb: SkBuff, progs: Sequence[ProgFunc] | None = None) -> int:
        """The tcx chain alone (``tcx_run``), with reserved codes mapped to TCX_NEXT.

        A program that raises, returns something that is not an int verdict
        (None, a string ...), or changed ``len`` through ``ctx.skb`` (read-only
        in ``__sk_buff``: the books count the bytes sent), is a fault:
        ``strict`` stops with it, ``contain`` skips that program from now on
        (as if detached) and the chain goes on with the programs after it
        (``progs``: what is left of the chain; the whole chain when None).
        """
        ctx = self.ctx
        ctx.skb = skb
        ret: object = -1
        func: ProgFunc | None = None
        tp = self.tp_prog_run
        length = skb.len
        try:
            for func in self.progs if progs is None else progs:
                ret = func(ctx)
                if tp.listeners:
                    tp.emit(self.dev.sched.now, self.dev, self.ingress, func, ret)
                if skb.len != length:
                    written, skb.len = skb.len, length  # restored: the books count `length`
                    return self._program_fault(
                        skb, func, f"wrote skb.len ({length} -> {written}): read-only to a "
                        "tc program (writable: mark, priority, tc_classid, tc_index, tstamp, "
                        "queue_mapping)"
                    )  # fmt: skip
                if ret != -1:
                    break
        except ExtensionFault as exc:
            return self._program_fault(skb, func, exc.problem, exc)
        except Exception as exc:
            return self._program_fault(skb, func, f"raised {type(exc).__name__}: {exc}", exc)
        if ret == 0:
            skb.tc_index = skb.tc_classid & 0xFFFF  # tcx_action_code: PASS; tc_index is a u16
            return 0
        if ret == 2:
            return 2
        if ret == 7:
            return 7
        if ret.__class__ is not int:
            return self._program_fault(
                skb, func, f"returned {ret!r}, not a TCX_* verdict (TCX_NEXT, TCX_PASS, "
                "TCX_DROP, TCX_REDIRECT)"
            )  # fmt: skip
        return -1

    def _program_fault(
        self,
        skb: SkBuff,
        func: ProgFunc | None,
        problem: str,
        cause: BaseException | None = None,
    ) -> int:
        name = next((p.name for p in self.programs if p.func is func), repr(func))
        self._fault(skb, f"tcx program {name}", f"tcx:{name}", problem, cause)
        chain = list(self.progs)
        rest = chain[chain.index(func) + 1 :] if func in chain else []
        if func is not None:
            self.faulty = (*self.faulty, func)
        self._rebuild()
        # The programs after it, as if it were detached; those before it ran already.
        return self.run_programs(skb, rest)

    def _filter_fault(self, skb: SkBuff, flt: ClassicFilter, exc: Exception) -> None:
        """A classic filter raised: its fault; contained, it is detached as if deleted."""
        name = f"prio {flt.prio} handle {flt.handle}"
        problem = f"raised {type(exc).__name__}: {exc}"
        self._fault(skb, f"tc filter {name}", f"filter:{name}", problem, exc)
        self.classic = tuple(f for f in self.classic if f is not flt)
        self._sync()

    def _fault(
        self, skb: SkBuff, kind: str, listed: str, problem: str, cause: BaseException | None
    ) -> None:
        """Report a fault of an extension on this hook: raise it, or list it if contained."""
        where = "ingress" if self.ingress else "egress"
        fault = ExtensionFault(kind, f"{self.dev.name} {where}", problem, skb.describe())
        fault.__cause__ = cause
        world = self.dev.world
        if world.policy != POLICY_CONTAIN:
            # The run stops here; the packet in hand is booked as a fault drop so the
            # books still balance for whoever reads them after the diagnostic.
            skb_drop(skb, DROP_FAULT, self.dev.sched.now)
            raise fault
        world.faults.append((self.dev.name, listed, str(fault)))

    def _handle(self, skb: SkBuff) -> int:
        ret = self.run_programs(skb)
        if ret == 0:
            return HOOK_PASS
        if ret == 2:
            self.stats.drop += 1
            return HOOK_DROP
        if ret == 7:
            return self._redirect(skb, False)
        classic = self.classic
        if not classic:
            return HOOK_PASS
        res = TC_ACT_UNSPEC
        for flt in classic:
            try:
                res = flt.func(self.ctx)  # run_programs left the skb in the context
            except Exception as exc:
                self._filter_fault(skb, flt, exc)
                res = TC_ACT_UNSPEC  # contained: as if the filter were not there
            if res != TC_ACT_UNSPEC:
                break
        if res == TC_ACT_SHOT:
            self.stats.classic_drop += 1
            return HOOK_DROP
        if res == TC_ACT_REDIRECT:
            return self._redirect(skb, True)
        if res in _CONSUMED:
            self.stats.stolen += 1
            skb_drop(skb, DROP_TC_STOLEN, self.dev.sched.now)
            return HOOK_STOLEN
        return HOOK_PASS  # TC_ACT_OK, UNSPEC and anything else: continue as normal

    def _redirect(self, skb: SkBuff, classic: bool) -> int:
        stats = self.stats
        if classic:
            stats.classic_redirect += 1
        where = skb_do_redirect(skb, self.devices, self.dev.sched.now)
        if where == REDIRECT_INGRESS:
            stats.redirect_ingress += 1
        elif where == REDIRECT_EGRESS:
            stats.redirect_egress += 1
        else:
            stats.redirect_failed += 1
        return HOOK_STOLEN


REDIRECT_FAILED, REDIRECT_INGRESS, REDIRECT_EGRESS = 0, 1, 2


def skb_do_redirect(skb: SkBuff, devices: Mapping[int, TcxDevice], now: int) -> int:
    """``skb_do_redirect``: carry out what :func:`bpf_redirect` prepared.

    Sends ``skb`` to the target's ingress pipeline (``BPF_F_INGRESS``) or its
    ``xmit``; a missing or down target, or more than XMIT_RECURSION_LIMIT
    nested redirects, drops it with ``DROP_TCX_REDIRECT``. Returns
    REDIRECT_INGRESS, REDIRECT_EGRESS or REDIRECT_FAILED.
    """
    global _depth
    info = REDIRECT_INFO
    ifindex, flags = info.ifindex, info.flags  # read before any nested program runs
    info.ifindex = info.flags = 0
    target = devices.get(ifindex)
    if target is None or not target.active or _depth >= XMIT_RECURSION_LIMIT:
        skb_drop(skb, DROP_TCX_REDIRECT, now)
        return REDIRECT_FAILED
    _depth += 1
    try:
        if flags & BPF_F_INGRESS:
            target.deliver(skb)
            return REDIRECT_INGRESS
        target.xmit(skb)
        return REDIRECT_EGRESS
    finally:
        _depth -= 1


_depth = 0  # nested redirects in progress (dev_xmit_recursion)

__all__ = [
    "DROP_TC_STOLEN",
    "REDIRECT_EGRESS",
    "REDIRECT_FAILED",
    "REDIRECT_INGRESS",
    "ClassicFilter",
    "TcxHook",
    "TcxLink",
    "TcxStats",
    "skb_do_redirect",
]
