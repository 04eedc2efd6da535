"""One attach point (a device direction) holding an mprog bundle: the "hook host".

This is the part of tcx.c / netkit.c that is not about devices: syscall-level
checks (flag mask, program type, replace program, capability), the entry
lifetime policy, links, device-unregister cleanup and the fast-path view.

Two lifetime policies, chosen by ``persistent_entry``:

* tcx (``False``): the entry is created on first attach (or when a classic-tc
  qdisc sets ``miniq_active``) and freed when it has no programs and no miniq,
  so the next attach starts again at revision 1.
* netkit (``True``): the bundle lives as long as the hook, its revision keeps
  growing across empty periods, yet an empty hook has no published entry:
  query reports revision 1 and detach gives ENOENT.

>>> from qdisclab.mprog import BpfObjects, MprogHook, BPF_TCX_INGRESS
>>> objs = BpfObjects()
>>> hook = MprogHook(objs, BPF_TCX_INGRESS)
>>> hook.prog_attach(objs.program(lambda ctx: -1, name="a"))
>>> hook.prog_attach(objs.program(lambda ctx: 2, name="b"))
>>> hook.run(None), hook.revision
(2, 3)
"""

from __future__ import annotations

import errno
from typing import ClassVar

from mypy_extensions import mypyc_attr

from qdisclab.errors import KernelError

from .bundle import MprogBundle
from .constants import (
    BPF_F_ATTACH_MASK_MPROG,
    BPF_F_ID,
    BPF_F_REPLACE,
    BPF_PROG_TYPE_SCHED_CLS,
    MPROG_ATTACH_TYPES,
)
from .fd import ProgFd, program_from_fd
from .objects import BpfObjects, Link, ProgFunc, Program
from .query import QueryResult, build_query_result
from .relative import Relative


@mypyc_attr(allow_interpreted_subclasses=True)  # netkit hooks, test doubles
class MprogHook:
    """A multi-program attach point; the low-level API mirrors the syscalls.

    ``progs`` is the datapath's view: a tuple of the attached programs'
    callables in order, rebuilt only when the list changes.
    """

    __slots__ = (
        "_bundle",
        "_miniq_active",
        "attach_type",
        "link_class",
        "objs",
        "persistent_entry",
        "prog_type",
        "progs",
    )

    bundle_class: ClassVar[type[MprogBundle]] = MprogBundle

    def __init__(
        self,
        objs: BpfObjects,
        attach_type: int,
        *,
        prog_type: int = BPF_PROG_TYPE_SCHED_CLS,
        persistent_entry: bool = False,
        link_class: type[Link] = Link,
    ) -> None:
        if attach_type not in MPROG_ATTACH_TYPES:
            raise KernelError(errno.EINVAL, f"attach type {attach_type} is not an mprog hook")
        self.objs = objs
        self.attach_type = attach_type
        self.prog_type = prog_type
        self.persistent_entry = persistent_entry
        self.link_class = link_class
        self._miniq_active = False
        self._bundle: MprogBundle | None = self.bundle_class(objs) if persistent_entry else None
        self.progs: tuple[ProgFunc, ...] = ()

    # -- state as the kernel publishes it --

    @property
    def entry(self) -> MprogBundle | None:
        """The published entry (None = the kernel's NULL entry pointer)."""
        bundle = self._bundle
        if bundle is None or (self.persistent_entry and bundle.count == 0):
            return None
        return bundle

    @property
    def count(self) -> int:
        bundle = self._bundle
        return bundle.count if bundle is not None else 0

    @property
    def revision(self) -> int:
        """The revision a query reports (1 when there is no entry)."""
        entry = self.entry
        return entry.revision if entry is not None else 1

    @property
    def programs(self) -> tuple[Program, ...]:
        bundle = self._bundle
        return bundle.programs if bundle is not None else ()

    @property
    def slots(self) -> tuple[tuple[Program, Link | None], ...]:
        bundle = self._bundle
        return bundle.slots if bundle is not None else ()

    @property
    def miniq_active(self) -> bool:
        """Whether a classic-tc qdisc (ingress/clsact) shares this entry (tcx only)."""
        return self._miniq_active

    @miniq_active.setter
    def miniq_active(self, active: bool) -> None:
        self._miniq_active = active
        if active and self._bundle is None:
            self._bundle = self.bundle_class(self.objs)
        elif not active:
            self._release_if_idle()

    def _fetch_or_create(self) -> tuple[MprogBundle, bool]:
        if self._bundle is None:
            self._bundle = self.bundle_class(self.objs)
            return self._bundle, True
        return self._bundle, False

    def _release_if_idle(self) -> None:
        bundle = self._bundle
        idle = bundle is not None and bundle.count == 0 and not self._miniq_active
        if idle and not self.persistent_entry:
            self._bundle = None  # freed: the next entry restarts at revision 1

    def _rebuild(self) -> None:
        bundle = self._bundle
        self.progs = tuple(p.func for p in bundle.programs) if bundle is not None else ()

    def _check_prog(self, prog: object, what: str) -> Program:
        """The program an attach/detach names: EBADF for an fd not open, EINVAL otherwise."""
        return program_from_fd(prog, self.prog_type, what)

    @staticmethod
    def _check_flags(flags: int, op: str) -> None:
        if flags & ~BPF_F_ATTACH_MASK_MPROG:
            raise KernelError(errno.EINVAL, f"{op}: flags {flags:#x} outside the mprog mask")

    # -- BPF_PROG_ATTACH / BPF_PROG_DETACH / BPF_PROG_QUERY --

    def prog_attach(
        self,
        prog: ProgFd,
        flags: int = 0,
        relative: Relative = None,
        expected_revision: int = 0,
        replace_prog: ProgFd = None,
    ) -> None:
        """BPF_PROG_ATTACH: attach ``prog`` prog-based (no link).

        ``relative`` is a Program/Link (the kernel's fd) or, with BPF_F_ID, an
        int ID. ``replace_prog`` is only read with BPF_F_REPLACE.

        >>> from qdisclab.mprog import BpfObjects, BPF_TCX_EGRESS, BPF_F_BEFORE
        >>> objs = BpfObjects(); hook = MprogHook(objs, BPF_TCX_EGRESS)
        >>> p1, p2 = objs.program(lambda c: -1), objs.program(lambda c: -1)
        >>> hook.prog_attach(p1); hook.prog_attach(p2, BPF_F_BEFORE)
        >>> [p.id for p in hook.programs]
        [2, 1]
        """
        self._check_flags(flags, "BPF_PROG_ATTACH")
        program = self._check_prog(prog, "BPF_PROG_ATTACH")
        replaced = None
        if flags & BPF_F_REPLACE:
            replaced = self._check_prog(replace_prog, "BPF_PROG_ATTACH replace_bpf_fd")
        bundle, created = self._fetch_or_create()
        try:
            bundle.attach(program, flags, relative, expected_revision, replaced)
        except KernelError:
            if created:
                self._bundle = None  # the temporary entry is discarded again
            raise
        self._rebuild()

    def prog_detach(
        self,
        prog: ProgFd = None,
        flags: int = 0,
        relative: Relative = None,
        expected_revision: int = 0,
        *,
        capable: bool = True,
    ) -> None:
        """BPF_PROG_DETACH of a prog-based attachment; ``prog`` None detaches by position.

        Detaching without a program needs CAP_NET_ADMIN/CAP_SYS_ADMIN
        (``capable``), else EPERM. No entry or an empty list gives ENOENT.
        """
        self._check_flags(flags, "BPF_PROG_DETACH")
        program = None
        if prog is None:
            if not capable:
                raise KernelError(errno.EPERM, "detach without a program needs CAP_NET_ADMIN")
        else:
            program = self._check_prog(prog, "BPF_PROG_DETACH")
        entry = self.entry
        if entry is None:
            raise KernelError(errno.ENOENT, "no entry on this hook")
        entry.detach(program, flags, relative, expected_revision)
        self._release_if_idle()
        self._rebuild()

    def prog_query(
        self,
        capacity: int | None = None,
        want_ids: bool = True,
        *,
        query_flags: int = 0,
        attach_flags: int = 0,
        capable: bool = True,
    ) -> QueryResult:
        """BPF_PROG_QUERY; returns a QueryResult whose ``errno`` is 0 or ENOSPC.

        ``capacity`` is the input ``count`` (None: as large as needed);
        ``want_ids`` False models a NULL ``prog_ids``. Raises EPERM without
        capability and EINVAL for non-zero ``query_flags``/``attach_flags``.

        >>> from qdisclab.mprog import BpfObjects, BPF_TCX_INGRESS
        >>> hook = MprogHook(BpfObjects(), BPF_TCX_INGRESS)
        >>> r = hook.prog_query(); (r.count, r.revision)
        (0, 1)
        """
        if not capable:
            raise KernelError(errno.EPERM, "BPF_PROG_QUERY needs CAP_NET_ADMIN")
        if query_flags or attach_flags:
            raise KernelError(errno.EINVAL, "mprog query takes no query_flags/attach_flags")
        entry = self.entry
        if entry is None:
            return build_query_result((), 1, capacity, want_ids)
        return entry.query(capacity, want_ids)

    # -- BPF_LINK_CREATE and the link callbacks --

    def link_create(
        self,
        prog: ProgFd,
        flags: int = 0,
        relative: Relative = None,
        expected_revision: int = 0,
    ) -> Link:
        """BPF_LINK_CREATE: attach ``prog`` owned by a new link (of ``link_class``).

        No flag mask applies here (unknown bits only fail without a direction);
        BPF_F_REPLACE gives ENOENT since a link create names no old program.
        A failed create still consumes the link ID.
        """
        program = self._check_prog(prog, "BPF_LINK_CREATE")
        link = self.objs.prime_link(self.link_class, program, self.attach_type)
        bundle, created = self._fetch_or_create()
        try:
            bundle.attach(program, flags, relative, expected_revision, None, link)
        except KernelError:
            if created:
                self._bundle = None
            self.objs.cleanup_link(link)
            raise
        link.hook = self
        self.objs.settle_link(link)
        self._rebuild()
        return link

    def _link_release(self, link: Link) -> None:
        bundle = self._bundle
        if bundle is not None:
            bundle.detach(link.prog, 0, None, 0, link)
            self._release_if_idle()
            self._rebuild()
        link.hook = None

    def _link_update(self, link: Link, new_prog: Program, old_prog: Program | None) -> None:
        if old_prog is not None and link.prog is not old_prog:
            raise KernelError(errno.EPERM, f"{link!r} does not run {old_prog!r}")
        if new_prog is link.prog:
            return  # no-op, the revision stays
        bundle = self._bundle
        if bundle is None:
            raise KernelError(errno.ENOENT, "no entry on this hook")
        # the kernel re-attaches with REPLACE|ID relative to the current program, so the
        # relative lookup type-checks the new program (EINVAL) after the EEXIST check
        bundle.attach(new_prog, BPF_F_REPLACE | BPF_F_ID, link.prog.id, 0, link.prog, link)
        link.prog = new_prog
        self._rebuild()

    # -- device unregister --

    def uninstall(self) -> None:
        """Device unregister (tcx_uninstall / netkit): empty the hook, no commit.

        Link-owned slots make their links defunct; prog-based attachments are
        dropped. The revision is not bumped. A tcx entry survives only while a
        classic-tc miniq still uses it.
        """
        bundle = self._bundle
        if bundle is None:
            return
        for _prog, link in bundle.clear():
            if link is not None:
                link.hook = None
        self._release_if_idle()
        self._rebuild()

    # -- datapath --

    def run(self, ctx: object, next_code: int = -1) -> object:
        """Run the chain: the first result != ``next_code`` stops it; return the last result.

        An empty chain returns ``next_code``. Mapping reserved codes is the
        caller's job (tcx maps unknown codes to TCX_NEXT).
        """
        ret: object = next_code
        for func in self.progs:
            ret = func(ctx)
            if ret != next_code:
                break
        return ret

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.programs)
        return f"<{type(self).__name__} type={self.attach_type} rev={self.revision} [{names}]>"
