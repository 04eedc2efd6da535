"""red: Random Early Detection (net/sched/sch_red.c, include/net/red.h, tc/q_red.c).

``red limit BYTES [min BYTES] [max BYTES] avpkt BYTES [burst PACKETS]
[probability P] [bandwidth RATE] [ecn] [harddrop]``

tc computes the kernel's parameters the way q_red.c does: ``max`` defaults to
``limit/4`` (or ``3*min``), ``min`` to ``max/3``, ``burst`` to
``(2*min + max) / (3*avpkt)``; ``Wlog`` from ``burst`` (tc_red_eval_ewma),
``Plog`` (tc_red_eval_P), the idle-damping table ``Stab``/``Scell_log`` from
``avpkt`` at ``bandwidth`` (default 10Mbit), and ``max_P = probability * 2^32``.
The kernel then keeps the average queue in fixed point scaled by ``2^Wlog``
(``qavg += backlog - qavg >> Wlog``), marks with the count-based probability
of red_action, and when idle decays the average by the Stab table.
Packets wait in a child ``bfifo limit LIMIT``, as red_create_dflt does.

>>> Red.parse_options("limit 400000 avpkt 1000".split())["max"]
100000
"""

from __future__ import annotations

import errno
import math
import random
from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr

from qdisclab.errors import UserError
from qdisclab.sched.constants import NET_XMIT_CN
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.options import KernelRefusal, Opt, TcParseError, parse_options
from qdisclab.sched.registry import register_qdisc
from qdisclab.sched.tcutil import sprint_size

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff

DROP_RED_EARLY = "red_early"  # probabilistic drop between min and max
DROP_RED_HARD = "red_hard"  # average above max (forced drop)
_U32 = 0xFFFFFFFF
RED_ADAPT_PERIOD = 500_000_000  # the adaptive timer: HZ / 2
MAX_P_MIN = 2**32 // 100  # 1%
MAX_P_MAX = 50 * MAX_P_MIN  # 50%
RED_USAGE = (
    "Usage: ... red limit BYTES [min BYTES] [max BYTES] avpkt BYTES [burst PACKETS]\n"
    "               [adaptive] [probability PROBABILITY] [bandwidth KBPS]\n"
    "               [ecn] [harddrop] [nodrop]"
)


def eval_ewma(qmin: int, burst: int, avpkt: int) -> int:
    """tc_red_eval_ewma: the smallest Wlog letting ``burst`` packets in before reaching ``min``."""
    w = 0.5
    a = burst + 1 - qmin / avpkt
    if a < 1.0:
        raise TcParseError("RED: failed to calculate EWMA constant.")
    for wlog in range(1, 32):
        if a <= (1 - (1 - w) ** burst) / w:
            return wlog
        w /= 2
    raise TcParseError("RED: failed to calculate EWMA constant.")


def eval_p(qmin: int, qmax: int, prob: float) -> int:
    """tc_red_eval_P."""
    i = qmax - qmin
    if i == 0:
        return 0
    if i < 0:
        raise TcParseError("RED: failed to calculate probability.")
    prob /= i
    for plog in range(32):
        if prob > 1.0:
            return plog
        prob *= 2
    raise TcParseError("RED: failed to calculate probability.")


def eval_idle_damping(wlog: int, avpkt: int, bandwidth: int) -> tuple[int, list[int]]:
    """tc_red_eval_idle_damping, in microseconds (the kernel's us_idle unit)."""
    xmit_time = avpkt * 8e6 / bandwidth  # us to send one average packet
    lw = -math.log(1.0 - 1.0 / (1 << wlog)) / xmit_time
    maxtime = 31 / lw
    for clog in range(32):
        if maxtime / (1 << clog) < 512:
            break
    else:
        raise TcParseError("RED: failed to calculate idle damping table.")
    stab = [0] + [min(int((i << clog) * lw), 31) for i in range(1, 255)] + [31]
    return clog, stab


@mypyc_attr(allow_interpreted_subclasses=True)  # a kind may be extended
class Red(QdiscOps):
    """``red limit BYTES [min] [max] avpkt BYTES [burst] [probability] [bandwidth] [ecn] [harddrop]``."""

    id = "red"
    # the state init sets (red_parms and red_vars), read by _adapt and the callbacks
    rng: random.Random
    qavg: int
    qidlestart: int
    next_adapt: int
    max_p: int
    max_p_delta: int
    qth_delta: int
    target_min: int
    target_max: int
    wlog: int
    options = {
        "limit": Opt("size", None, "child bfifo limit in bytes (mandatory)"),
        "min": Opt("size", None, "average queue below which nothing is marked"),
        "max": Opt("size", None, "average queue above which everything is marked"),
        "avpkt": Opt("size", None, "average packet size (mandatory)"),
        "burst": Opt("int", None, "packets allowed in a burst (sets Wlog)"),
        "probability": Opt("float", 0.02, "marking probability at max"),
        "bandwidth": Opt("rate", 10_000_000, "link rate, for idle decay", zero_default=True),
        "ecn": Opt("flag", None, "mark ECT packets CE instead of dropping"),
        "harddrop": Opt("flag", None, "drop, not mark, above max"),
        "adaptive": Opt("flag", None, "adaptive RED: tune max_P every 500 ms (ARED)"),
        "nodrop": Opt("flag", None, "with ecn: queue non-ECT packets instead of dropping"),
    }

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        tokens = ["adaptive" if t == "adaptative" else t for t in tokens]
        opt = parse_options(cls.id, tokens, cls.options, RED_USAGE)
        if not opt.get("limit") or not opt.get("avpkt"):
            raise TcParseError("RED: Required parameter (limit, avpkt) is missing")
        if not opt.get("max"):
            opt["max"] = opt["min"] * 3 if opt.get("min") else opt["limit"] // 4
        if not opt.get("min"):
            opt["min"] = opt["max"] // 3
        if not opt.get("burst"):
            opt["burst"] = (2 * opt["min"] + opt["max"]) // (3 * opt["avpkt"])
        if opt["max"] < opt["min"]:
            raise TcParseError("RED: failed to calculate probability.")
        return opt

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        """``red_print_opt``: ``limit 390Kb min 32Kb max 97Kb [ecn ][harddrop ]...``."""
        if "limit" not in opt:
            return ""
        text = f"limit {sprint_size(opt['limit'])} min {sprint_size(opt['min'])} "
        text += f"max {sprint_size(opt['max'])} "
        return text + "".join(
            f"{f} " for f in ("ecn", "harddrop", "adaptive", "nodrop") if opt.get(f)
        )

    def tc_xstats(self) -> str:
        """``red_print_xstats``."""
        return (
            f"  marked {self.prob_mark + self.forced_mark} early "
            f"{self.prob_drop + self.forced_drop} pdrop {self.pdrop} other 0"
        )

    def _adapt(self, now: int) -> None:
        """``red_adaptative_algo``, run for each 500 ms period that has passed (the kernel's timer)."""
        while now >= self.next_adapt:
            self.next_adapt += RED_ADAPT_PERIOD
            qavg = self.qavg
            if self.qidlestart:
                qavg = self._calc_qavg(self.next_adapt, 0)
            qavg >>= self.wlog
            if qavg > self.target_max and self.max_p <= MAX_P_MAX:
                self.max_p += min(MAX_P_MIN, self.max_p // 4)  # alpha
            elif qavg < self.target_min and self.max_p >= MAX_P_MIN:
                self.max_p = (self.max_p // 10) * 9  # beta
            self.max_p_delta = max((self.max_p + self.qth_delta // 2) // self.qth_delta, 1)

    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        if not opt.get("avpkt") or not opt.get("min") or not opt.get("burst"):
            raise UserError(
                "qdisc red: limit, avpkt, min and burst must be set (use parse_options)"
            )
        if opt.get("nodrop") and not opt.get("ecn"):
            raise KernelRefusal(errno.EINVAL, "nodrop valid only when ECN is enabled")
        qmin, qmax, avpkt = opt["min"], opt["max"], opt["avpkt"]
        prob = opt.get("probability", 0.02)
        self.wlog = wlog = eval_ewma(qmin, opt["burst"], avpkt)
        self.plog = eval_p(qmin, qmax, prob)
        self.scell_log, self.stab = eval_idle_damping(wlog, avpkt, opt.get("bandwidth", 10**7))
        if (qmin.bit_length() + wlog) >= 32:
            raise KernelRefusal(errno.EINVAL)  # red_check_params
        # red_set_parms
        self.qth_min = qmin << wlog
        self.qth_max = qmax << wlog
        delta = max(qmax - qmin, 1)
        max_p = min(int(prob * 2**32), _U32) or (_U32 >> self.plog) * delta
        self.max_p = max_p
        self.max_p_delta = max(max_p // delta, 1)  # red_random divides by this
        self.qth_delta = delta
        self.target_min = qmin + 2 * delta // 5  # ARED keeps the average between these
        self.target_max = qmin + 3 * delta // 5
        self.adaptive = bool(opt.get("adaptive"))
        self.next_adapt = sch.now + RED_ADAPT_PERIOD if self.adaptive else 1 << 62
        self.ecn = bool(opt.get("ecn"))
        self.harddrop = bool(opt.get("harddrop"))
        self.nodrop = bool(opt.get("nodrop"))
        # red_vars
        self.qavg = 0
        self.qcount = -1
        self.qr = 0
        self.qidlestart = 0
        self.prob_drop = self.prob_mark = self.forced_drop = self.forced_mark = self.pdrop = 0
        sch.limit = opt["limit"]
        sch.create_child(1, f"bfifo limit {sch.limit}")
        # Looked up per packet: `tc qdisc add ... parent X:1` may graft another child.
        self.classid = sch.handle | 1
        world = getattr(sch.dev, "world", None)
        if world is not None and hasattr(world, "rng"):
            node = getattr(getattr(sch.dev, "node", None), "name", "")
            self.rng = world.rng.stream(f"red:{node}/{sch.dev.name}:{sch.handle >> 16:x}:")
        else:
            self.rng = random.Random(sch.hash_seed ^ sch.handle)

    @staticmethod
    def tc_find_class(minor: int) -> int:
        return 1  # red_find: one class, the inner qdisc

    # -- red.h -----------------------------------------------------------------
    def _calc_qavg(self, now: int, backlog: int) -> int:
        qavg = self.qavg
        if not self.qidlestart:
            return qavg + (backlog - (qavg >> self.wlog))
        us_idle = (now - self.qidlestart) // 1000
        shift = self.stab[(us_idle >> self.scell_log) & 0xFF]
        if shift:
            return qavg >> shift
        us_idle = (qavg * us_idle) >> self.scell_log
        return qavg - us_idle if us_idle < qavg >> 1 else qavg >> 1

    def _random(self) -> int:
        return self.rng.getrandbits(32) // self.max_p_delta  # reciprocal_divide

    def _action(self, qavg: int) -> int:
        """red_action: 0 don't mark, 1 probabilistic mark, 2 hard mark."""
        if qavg < self.qth_min:
            self.qcount = -1
            return 0
        if qavg >= self.qth_max:
            self.qcount = -1
            return 2
        self.qcount += 1
        if self.qcount:
            if ((qavg - self.qth_min) >> self.wlog) * self.qcount >= self.qr:
                self.qcount = 0
                self.qr = self._random()
                return 1
        else:
            self.qr = self._random()
        return 0

    # -- callbacks --------------------------------------------------------------
    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        child = sch.find_class(self.classid)
        assert child is not None  # created by init; a graft replaces it, never removes it
        if sch.now >= self.next_adapt:
            self._adapt(sch.now)
        self.qavg = self._calc_qavg(sch.now, child.backlog)
        self.qidlestart = 0  # red_end_of_idle_period
        action = self._action(self.qavg)
        if action == 1:
            sch.overlimits += 1
            if self.ecn and sch.set_ce(skb):
                self.prob_mark += 1
            elif not (self.ecn and self.nodrop):
                self.prob_drop += 1
                sch.drop(skb, to_free, DROP_RED_EARLY)
                return NET_XMIT_CN
        elif action == 2:
            sch.overlimits += 1
            if not self.harddrop and self.ecn and sch.set_ce(skb):
                self.forced_mark += 1
            elif self.harddrop or not (self.ecn and self.nodrop):
                self.forced_drop += 1
                sch.drop(skb, to_free, DROP_RED_HARD)
                return NET_XMIT_CN
        ret = sch.enqueue_child(skb, child, to_free)
        if ret & 0x0F:
            self.pdrop += 1
        return ret

    def dequeue(self, sch: QdiscContext) -> SkBuff | None:
        child = sch.find_class(self.classid)
        assert child is not None  # created by init; a graft replaces it, never removes it
        skb = sch.dequeue_child(child)
        # red_start_of_idle_period runs on the kernel's NULL dequeue, which qdisc_run makes
        # right after the queue empties; the simulated device stops asking once it is empty.
        if not child.qlen and not self.qidlestart:
            self.qidlestart = sch.now or 1
        return skb

    def reset(self, sch: QdiscContext) -> None:
        # The child is reset by the infrastructure; red_restart clears the average.
        self.qavg = 0
        self.qcount = -1
        self.qidlestart = 0

    def destroy(self, sch: QdiscContext) -> None:
        pass


register_qdisc(Red)
