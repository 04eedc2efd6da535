"""prio: strict-priority bands, each with its own child qdisc (net/sched/sch_prio.c).

``prio [bands N] [priomap P0 ... P15]``: ``bands`` 2..16 (default 3); the
priomap maps ``skb.priority & TC_PRIO_MAX`` to a band (kernel default
``1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1``). Every band gets a pfifo child at class
``major:band+1``, created in init with ``sch.create_child``; another qdisc can
be grafted on a band with ``Qdisc.graft(minor, spec)``.

Classification is ``prio_classify``: a ``skb.priority`` whose major equals
this qdisc's handle picks band ``minor - 1`` directly; otherwise the tc
filters run (``sch.tc_classify``) and a matching classid picks band
``minor - 1``; with no match the priomap decides. A band number out of range
goes to ``priomap[0]``, as the kernel does. Dequeue is strict: band 0 is
always served first.

>>> from qdisclab.net import World
>>> w = World(); dev = w.new_device(w.add_host("A"))
>>> q = create_qdisc("prio bands 4", dev)
>>> sorted(q.children), q.opt["priomap"][:4]
([1, 2, 3, 4], [1, 2, 2, 2])
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr

from qdisclab.sched.constants import TC_H_MAJ, TC_H_MAKE, TC_PRIO_MAX
from qdisclab.sched.ops import QdiscOps
from qdisclab.sched.options import Args, KernelRefusal, TcParseError, read
from qdisclab.sched.registry import create_qdisc, register_qdisc  # noqa: F401  (doctest)
from qdisclab.sched.tcutil import TcValueError, get_integer, get_unsigned

if TYPE_CHECKING:
    from qdisclab.sched.context import QdiscContext
    from qdisclab.sched.ops import ToFree
    from qdisclab.skb import SkBuff

TCQ_PRIO_BANDS = 16
TCQ_MIN_PRIO_BANDS = 2
# sch_prio.c / pfifo_fast's prio2band: the kernel's default priomap.
DEFAULT_PRIOMAP = (1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)


@mypyc_attr(allow_interpreted_subclasses=True)  # a kind may be extended
class Prio(QdiscOps):
    """``prio [bands N] [priomap P0 ... P15]``: strict priority over child qdiscs."""

    id = "prio"

    @classmethod
    def parse_options(cls, tokens: list[str]) -> dict[str, Any]:
        """``prio_parse_opt``: ``bands N``, then ``priomap`` and up to 16 band numbers.

        A short priomap replaces only its first entries; the rest keep the default.
        """
        args = Args(tokens, cls.id)
        bands = 3
        priomap = list(DEFAULT_PRIOMAP)
        in_priomap = False
        idx = 0
        while args:
            word = args.word()
            if word == "bands":
                if in_priomap:
                    raise TcParseError("Error: bands must be specified before priomap")
                bands = read(args, "bands", get_integer)
            elif word == "priomap":
                if in_priomap:
                    raise TcParseError("Error: duplicate priomap")
                in_priomap = True
            elif word == "multiqueue":
                raise TcParseError("qdisc prio: multiqueue needs a multiqueue device")
            elif word == "help":
                raise TcParseError(PRIO_USAGE)
            elif not in_priomap:
                raise args.unknown(PRIO_USAGE)
            else:
                try:
                    band = get_unsigned(word)
                except TcValueError:
                    raise TcParseError('Illegal "priomap" element') from None
                if band >= bands:
                    raise TcParseError('"priomap" element is out of bands')
                if idx > TC_PRIO_MAX:
                    raise TcParseError(f'"priomap" index > TC_PRIO_MAX={TC_PRIO_MAX}')
                priomap[idx] = band
                idx += 1
        return {"bands": bands, "priomap": priomap}

    @classmethod
    def render_options(cls, opt: dict[str, Any]) -> str:
        if "bands" not in opt:
            return ""
        return render_priomap(opt["bands"], opt.get("priomap", DEFAULT_PRIOMAP))

    def init(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        self.bands = 0
        self.tc_change(sch, opt)

    def tc_change(self, sch: QdiscContext, opt: dict[str, Any]) -> None:
        """``prio_tune``: kept bands keep their qdiscs and packets; added bands get a pfifo.

        Bands beyond a lowered count are no longer classes (``tc_find_class``),
        so the mechanism removes their qdiscs, as the kernel purges them.
        """
        bands = int(opt.get("bands", 3))
        priomap = list(opt.get("priomap") or DEFAULT_PRIOMAP)
        # prio_tune: the kernel refuses these with EINVAL.
        if not TCQ_MIN_PRIO_BANDS <= bands <= TCQ_PRIO_BANDS:
            raise KernelRefusal(errno.EINVAL, hint=f"prio: bands {bands} is outside 2..16")
        if len(priomap) != TC_PRIO_MAX + 1 or any(not 0 <= b < bands for b in priomap):
            raise KernelRefusal(
                errno.EINVAL, f"qdisc prio: priomap entries must be bands 0..{bands - 1}"
            )
        opt["bands"], opt["priomap"] = bands, priomap
        old_bands, self.bands = self.bands, bands
        self.prio2band: list[int] = priomap
        self.major = TC_H_MAJ(sch.handle)
        self.classids = [TC_H_MAKE(sch.handle, band + 1) for band in range(bands)]
        for band in range(old_bands, bands):
            sch.create_child(band + 1, "pfifo")

    def tc_find_class(self, minor: int) -> int | None:
        """``prio_find``: bands are classes ``1..bands``."""
        return minor if 1 <= minor <= self.bands else None

    def classify(self, skb: SkBuff, sch: QdiscContext) -> int:
        """``prio_classify``: the band for ``skb``."""
        band = skb.priority
        if TC_H_MAJ(band) != self.major:
            classid = sch.tc_classify(skb)
            if not classid:
                if TC_H_MAJ(band):
                    band = 0
                return self.prio2band[band & TC_PRIO_MAX]
            band = classid
        band = (band & 0xFFFF) - 1
        if not 0 <= band < self.bands:
            return self.prio2band[0]
        return band

    def enqueue(self, skb: SkBuff, sch: QdiscContext, to_free: ToFree) -> int:
        child = sch.find_class(self.classids[self.classify(skb, sch)])
        if child is None:  # cannot happen: every band has a child from init on
            return sch.drop(skb, to_free)
        return sch.enqueue_child(skb, child, to_free)

    def dequeue(self, sch: QdiscContext) -> SkBuff | None:
        find = sch.find_class
        for classid in self.classids:
            child = find(classid)
            if child is not None and child.q.qlen:
                skb = sch.dequeue_child(child)
                if skb is not None:
                    return skb
        return None

    def reset(self, sch: QdiscContext) -> None:
        pass  # everything is in the children; the infrastructure resets them after this

    def destroy(self, sch: QdiscContext) -> None:
        pass


register_qdisc(Prio)


PRIO_USAGE = "Usage: ... prio [ bands NUMBER ] [ priomap P1 P2 ...] [multiqueue]"


def render_priomap(bands: int, priomap: Any) -> str:
    """``prio_print_opt``, shared with pfifo_fast: ``bands 3 priomap 1 2 2 2 ...``."""
    return f"bands {bands} priomap " + " ".join(str(b) for b in priomap)
