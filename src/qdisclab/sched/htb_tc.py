"""HTB's ``tc class`` commands (``htb_change_class``, ``htb_delete``, ``htb_graft``) and listing.

A mixin of the ``htb`` ops: the tc front end calls these with the qdisc (the
infrastructure object, which can graft children), never from the datapath.
"""

from __future__ import annotations

import errno
from typing import Any

from qdisclab.sched.constants import TC_H_MAKE
from qdisclab.sched.handle import requested_handle
from qdisclab.sched.htb_class import TC_HTB_MAXDEPTH, HtbClass, parse_htb_class
from qdisclab.sched.htb_report import render_class
from qdisclab.sched.options import KernelRefusal

NLM_F_CREATE = 0x400


class HtbTcClasses:
    """What ``tc class add|change|del|show`` and ``tc qdisc add parent X:Y`` need from htb."""

    handle: int
    classes: dict[int, HtbClass]
    active: list[HtbClass]
    r2q: int
    class_hash: Any

    # -- tc class commands (htb_change_class, htb_delete, htb_graft) ----------------------
    def tc_find_class(self, minor: int) -> int | None:
        return minor if TC_H_MAKE(self.handle, minor) in self.classes else None

    def tc_graft(self, q: Any, minor: int, spec: str) -> Any:
        cl = self.classes[TC_H_MAKE(self.handle, minor)]
        if cl.level:
            raise KernelRefusal(errno.EINVAL)
        self._forget_active(cl)
        child = q.graft(minor, spec)
        cl.leaf = child.ctx  # the policy holds its children as the sch they receive
        return child

    def tc_ungraft(self, q: Any, minor: int) -> None:
        with requested_handle(0):
            self.tc_graft(q, minor, "pfifo")

    def tc_change_class(
        self, q: Any, classid: int, parentid: int, words: list[str], flags: int
    ) -> str:
        """Create (or retune) class ``classid`` from ``tc class add|change ... htb`` words."""
        spec = parse_htb_class(words, classid, parentid)
        cl = self.classes.get(classid)
        if cl is not None:
            warning = cl.configure(spec, self.r2q)
            return f"Warning: sch_htb: {warning}" if warning else ""
        if not flags & NLM_F_CREATE:
            raise KernelRefusal(errno.ENOENT)
        if not classid or (classid ^ self.handle) >> 16:
            raise KernelRefusal(errno.EINVAL)
        parent = (
            self.classes.get(TC_H_MAKE(self.handle, spec.parent_minor))
            if spec.parent_minor
            else None
        )
        if parent is not None and parent.parent is not None and parent.parent.level < 2:
            raise KernelRefusal(errno.EINVAL, "HTB: tree is too deep")
        cl = HtbClass(spec, classid, parent, self.r2q)
        warning = cl.configure(spec, self.r2q)
        cl.t_c = q.sched.now
        self.classes[classid] = cl
        self.class_hash.insert(cl)
        if parent is not None:
            if not parent.children and parent.leaf is not None:
                # htb_change_class: a leaf that gets a child becomes inner; its queue goes.
                self._forget_active(parent)
                old = q.children.pop(parent.minor, None)
                if old is not None:
                    old.destroy()
                parent.leaf = None
                parent.level = (parent.parent.level if parent.parent else TC_HTB_MAXDEPTH) - 1
            parent.children.append(cl)
        with requested_handle(0):
            cl.leaf = q.graft(cl.minor, "pfifo").ctx
        return f"Warning: sch_htb: {warning}" if warning else ""

    def tc_delete_class(self, q: Any, classid: int) -> None:
        cl = self.classes.get(classid)
        if cl is None:
            raise KernelRefusal(errno.ENOENT)
        if cl.children:
            raise KernelRefusal(errno.EBUSY, "HTB class in use")
        self._forget_active(cl)
        old = q.children.pop(cl.minor, None)
        if old is not None:
            old.destroy()
        del self.classes[classid]
        self.class_hash.remove(cl)
        parent = cl.parent
        if parent is not None:
            parent.children.remove(cl)
            if not parent.children:  # htb_parent_to_leaf
                parent.level = 0
                with requested_handle(0):
                    parent.leaf = q.graft(parent.minor, "pfifo").ctx

    def _forget_active(self, cl: HtbClass) -> None:
        if cl in self.active:
            self.active.remove(cl)

    # -- reporting -----------------------------------------------------------------------
    def tc_classes(self, q: Any, stats: bool = False, details: bool = False) -> list[str]:
        """``tc [-s] [-d] class show`` for this qdisc, in the kernel's class-hash order."""
        return [render_class(cl, self, stats, details) for cl in self.class_hash]

    def class_show(self, stats: bool = False, details: bool = True) -> str:
        """``tc [-s] -d class show`` text for this qdisc's classes."""
        return "\n".join(self.tc_classes(None, stats, details)).rstrip("\n")
