"""Model-based test: random operation sequences against a simple list model (spec 13).

The reference below is written from the spec's pseudocode on purpose as plain
lists and dicts, sharing no code with the implementation. It only uses the
Program/Link objects as identity tokens; link state (program, live, closed,
IDs) is tracked on its own.
"""

from __future__ import annotations

import errno

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from qdisclab.errors import KernelError
from qdisclab.mprog import (
    BPF_F_AFTER,
    BPF_F_ALLOW_MULTI,
    BPF_F_BEFORE,
    BPF_F_ID,
    BPF_F_LINK,
    BPF_F_REPLACE,
    BPF_PROG_TYPE_SCHED_ACT,
    BPF_PROG_TYPE_SCHED_CLS,
    BPF_TCX_INGRESS,
    BpfObjects,
    Link,
    MprogBundle,
    MprogHook,
    Program,
)

MASK = BPF_F_REPLACE | BPF_F_BEFORE | BPF_F_AFTER | BPF_F_ID | BPF_F_LINK
SCHED = BPF_PROG_TYPE_SCHED_CLS


class RefError(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def fail(code: int):
    raise RefError(code)


class Reference:
    """Spec section 13, as literally as possible."""

    def __init__(self, cap: int, persistent: bool, progs: list[Program]) -> None:
        self.cap = cap
        self.persistent = persistent
        self.items: list[tuple[Program, Link | None]] | None = [] if persistent else None
        self.rev = 1
        self.miniq = False
        self.prog_by_id = {p.id: p for p in progs}
        self.link_by_id: dict[int, Link] = {}
        self.link_prog: dict[Link, Program] = {}
        self.live: set[Link] = set()
        self.closed: set[Link] = set()
        self.next_link_id = 1
        self.pending_id = 0  # ID of a link whose create is running (lookups give EAGAIN)

    # -- mprog core --

    def resolve(self, value, flags, want_type):
        if flags & BPF_F_LINK:
            if flags & BPF_F_ID:
                if value and value == self.pending_id:
                    fail(errno.EAGAIN)
                link = self.link_by_id.get(value or 0) or fail(errno.ENOENT)
            elif value is None or value == 0:
                fail(errno.EINVAL)
            elif isinstance(value, Link):
                link = value if value not in self.closed else fail(errno.EBADF)
            else:
                fail(errno.EINVAL)
            prog = self.link_prog[link]
            if want_type and prog.prog_type != want_type:
                fail(errno.EINVAL)
            return (prog, link)
        if flags & BPF_F_ID:
            prog = self.prog_by_id.get(value or 0) or fail(errno.ENOENT)
        elif value is None or value == 0:
            return None
        elif isinstance(value, Program):
            prog = value
        else:
            fail(errno.EBADF if value in self.closed else errno.EINVAL)
        if want_type and prog.prog_type != want_type:
            fail(errno.EINVAL)
        return (prog, None)

    @staticmethod
    def match(items, r):
        for i, (p, k) in enumerate(items):
            if p is r[0] and (r[1] is None or k is r[1]):
                return i
        fail(errno.ENOENT)

    def before(self, items, r):
        return -1 if r is None else self.match(items, r) - 1

    def after(self, items, r):
        return len(items) if r is None else self.match(items, r) + 1

    @staticmethod
    def exact(items, prog, link):
        for i, (p, k) in enumerate(items):
            if p is prog:
                return i if k is link else fail(errno.EBUSY)
        fail(errno.ENOENT)

    def place(self, items, flags, r, idx):
        for flag, fn in ((BPF_F_BEFORE, self.before), (BPF_F_AFTER, self.after)):
            if flags & flag:
                t = fn(items, r)
                if idx is not None and t != idx:
                    fail(errno.ERANGE)
                idx = t
        return idx

    def mprog_attach(self, items, rev, P, K, old, F, rel, exp_rev):
        if exp_rev and exp_rev != rev:
            fail(errno.ESTALE)
        if any(p is P for p, _ in items):
            fail(errno.EEXIST)
        r = self.resolve(rel, F & ~BPF_F_REPLACE, P.prog_type)
        idx = None
        if F & BPF_F_REPLACE:
            idx = self.exact(items, old, K)
        elif len(items) == self.cap:
            fail(errno.ERANGE)
        idx = self.place(items, F, r, idx)
        if idx is None:
            if r is not None or F:
                fail(errno.EINVAL)
            idx = len(items)
        if idx >= self.cap:
            fail(errno.ERANGE)
        new = list(items)
        if F & BPF_F_REPLACE:
            new[idx] = (P, K)
        elif idx == len(items):
            new.append((P, K))
        else:
            new.insert(idx + 1 if F & BPF_F_BEFORE else idx, (P, K))
        return new

    def mprog_detach(self, items, rev, D, K, F, rel, exp_rev):
        if F & BPF_F_REPLACE:
            fail(errno.EINVAL)
        if exp_rev and exp_rev != rev:
            fail(errno.ESTALE)
        if not items:
            fail(errno.ENOENT)
        r = self.resolve(rel, F, D.prog_type if D else 0)
        idx = self.exact(items, D, K) if D else None
        idx = self.place(items, F, r, idx)
        n = len(items)
        if idx is None:
            if r is not None or F:
                fail(errno.EINVAL)
            idx = n
        if idx >= self.cap:
            fail(errno.ERANGE)
        idx = 0 if idx == -1 else (n - 1 if idx == n else idx)
        if items[idx][1] is not None and K is None:
            fail(errno.EBUSY)
        return items[:idx] + items[idx + 1 :]

    # -- hook policy --

    def published(self):
        if self.items is None or (self.persistent and not self.items):
            return None
        return self.items

    def query(self):
        items = self.published()
        return (0, 1, ()) if items is None else (len(items), self.rev, tuple(items))

    def settle(self, items):
        self.items, self.rev = items, self.rev + 1
        if not self.persistent and not items and not self.miniq:
            self.items = None

    def attach_entry(self):
        return (self.items, self.rev) if self.items is not None else ([], 1)

    def prog_attach(self, P, F, rel, exp_rev, old):
        if F & ~MASK or P.prog_type != SCHED:
            fail(errno.EINVAL)
        if F & BPF_F_REPLACE and (old is None or old.prog_type != SCHED):
            fail(errno.EINVAL)
        items, rev = self.attach_entry()
        new = self.mprog_attach(items, rev, P, None, old, F, rel, exp_rev)
        self.items, self.rev = items, rev
        self.settle(new)

    def prog_detach(self, D, F, rel, exp_rev):
        if F & ~MASK or (D is not None and D.prog_type != SCHED):
            fail(errno.EINVAL)
        items = self.published()
        if items is None:
            fail(errno.ENOENT)
        self.settle(self.mprog_detach(items, self.rev, D, None, F, rel, exp_rev))

    def link_create(self, link_id, P, F, rel, exp_rev, sut_link):
        """``sut_link`` is the object the implementation returned (None on failure)."""
        if P.prog_type != SCHED:
            fail(errno.EINVAL)
        assert link_id == self.next_link_id, "link IDs must be allocated in order"
        self.next_link_id += 1
        items, rev = self.attach_entry()
        token = sut_link if sut_link is not None else object()
        self.pending_id = link_id
        try:
            new = self.mprog_attach(items, rev, P, token, None, F, rel, exp_rev)
        finally:
            self.pending_id = 0
        self.items, self.rev = items, rev
        self.settle(new)
        self.link_by_id[link_id] = sut_link
        self.link_prog[sut_link] = P
        self.live.add(sut_link)

    def link_update(self, K, N, old):
        if K in self.closed:
            fail(errno.EBADF)
        if K not in self.live:
            fail(errno.ENOLINK)
        cur = self.link_prog[K]
        if old is not None and old is not cur:
            fail(errno.EPERM)
        if N is cur:
            return
        new = self.mprog_attach(
            self.items, self.rev, N, K, cur, BPF_F_REPLACE | BPF_F_ID, cur.id, 0
        )
        self.settle(new)
        self.link_prog[K] = N

    def link_release(self, K):
        if K in self.live:
            self.settle(self.mprog_detach(self.items, self.rev, self.link_prog[K], K, 0, None, 0))
            self.live.discard(K)

    def link_close(self, K):
        if K not in self.closed:
            self.link_release(K)
            self.closed.add(K)
            self.link_by_id.pop(K.id, None)

    def set_miniq(self, on):
        self.miniq = on
        if on and self.items is None:
            self.items, self.rev = [], 1
        if not on and not self.persistent and self.items == []:
            self.items = None

    def uninstall(self):
        if self.items is None:
            return
        for _, k in self.items:
            self.live.discard(k)
        self.items = [] if (self.persistent or self.miniq) else None


def make_machine(cap: int, persistent: bool):
    class Bundle(MprogBundle):
        capacity = cap

    class SutHook(MprogHook):
        __slots__ = ()
        bundle_class = Bundle

    flag_bits = st.lists(
        st.sampled_from([BPF_F_REPLACE, BPF_F_BEFORE, BPF_F_AFTER, BPF_F_ID, BPF_F_LINK]),
        max_size=3,
    ).map(lambda bits: sum(set(bits)))
    # mostly well-formed requests so lists grow; raw bit mixes and junk bits for the errors
    common = st.sampled_from(
        [
            0,
            BPF_F_BEFORE,
            BPF_F_AFTER,
            BPF_F_BEFORE | BPF_F_ID,
            BPF_F_AFTER | BPF_F_LINK,
            BPF_F_REPLACE,
            BPF_F_REPLACE | BPF_F_BEFORE,
        ]
    )
    flags_st = st.one_of(common, common, flag_bits, flag_bits.map(lambda f: f | BPF_F_ALLOW_MULTI))

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.objs = BpfObjects()
            self.progs = [self.objs.program(lambda ctx: -1, name=f"p{i}") for i in range(6)]
            self.progs.append(
                self.objs.program(lambda ctx: -1, name="act", prog_type=BPF_PROG_TYPE_SCHED_ACT)
            )
            self.hook = SutHook(self.objs, BPF_TCX_INGRESS, persistent_entry=persistent)
            self.ref = Reference(cap, persistent, self.progs)
            self.links: list[Link] = []

        # -- drawing helpers --

        def relative(self, data, flags):
            choices = [st.none(), st.just(0), st.sampled_from(self.progs)]
            if self.links:
                choices.append(st.sampled_from(self.links))
            if flags & BPF_F_ID:
                return data.draw(st.one_of(st.integers(0, 9), st.none()))
            return data.draw(st.one_of(choices))

        def expected_revision(self, data):
            rev = self.ref.rev if self.ref.items is not None else 1
            return data.draw(st.sampled_from([0, 0, rev, rev + 1, max(rev - 1, 1)]))

        def both(self, ref_op, sut_op):
            ref_err = sut_err = None
            try:
                ref_op()
            except RefError as e:
                ref_err = e.code
            try:
                sut_op()
            except KernelError as e:
                sut_err = e.errno
            assert sut_err == ref_err, f"errno: impl {sut_err}, reference {ref_err}"

        # -- rules --

        @rule(data=st.data(), flags=flags_st)
        def prog_attach(self, data, flags):
            prog = data.draw(st.sampled_from(self.progs))
            rel = self.relative(data, flags)
            exp = self.expected_revision(data)
            old = data.draw(st.one_of(st.none(), st.sampled_from(self.progs)))
            self.both(
                lambda: self.ref.prog_attach(prog, flags, rel, exp, old),
                lambda: self.hook.prog_attach(prog, flags, rel, exp, old),
            )

        @rule(
            prog=st.integers(0, 5),
            flags=st.sampled_from([0, BPF_F_BEFORE, BPF_F_AFTER]),
            as_link=st.booleans(),
        )
        def grow(self, prog, flags, as_link):
            """Plain head/tail inserts so lists get long enough for the position rules."""
            p = self.progs[prog]
            if as_link:
                self.create_link(p, flags, None, 0)
            else:
                self.both(
                    lambda: self.ref.prog_attach(p, flags, None, 0, None),
                    lambda: self.hook.prog_attach(p, flags),
                )

        @rule(data=st.data(), flags=flags_st)
        def prog_detach(self, data, flags):
            prog = data.draw(st.one_of(st.none(), st.none(), st.sampled_from(self.progs)))
            rel = self.relative(data, flags)
            exp = self.expected_revision(data)
            self.both(
                lambda: self.ref.prog_detach(prog, flags, rel, exp),
                lambda: self.hook.prog_detach(prog, flags, rel, exp),
            )

        @rule(data=st.data(), flags=flags_st)
        def link_create(self, data, flags):
            prog = data.draw(st.sampled_from(self.progs))
            rel = self.relative(data, flags)
            self.create_link(prog, flags, rel, self.expected_revision(data))

        def create_link(self, prog, flags, rel, exp):
            # the implementation runs first here: the reference needs the link token
            link = None
            sut_err = ref_err = None
            try:
                link = self.hook.link_create(prog, flags, rel, exp)
            except KernelError as e:
                sut_err = e.errno
            next_id = self.ref.next_link_id
            try:
                self.ref.link_create(next_id, prog, flags, rel, exp, link)
            except RefError as e:
                ref_err = e.code
            assert sut_err == ref_err, f"errno: impl {sut_err}, reference {ref_err}"
            if link is not None:
                assert link.id == next_id
                self.links.append(link)

        @rule(data=st.data())
        def link_update(self, data):
            if not self.links:
                return
            link = data.draw(st.sampled_from(self.links))
            new = data.draw(st.sampled_from(self.progs))
            old = data.draw(st.one_of(st.none(), st.sampled_from(self.progs)))
            self.both(
                lambda: self.ref.link_update(link, new, old),
                lambda: link.update(new, old),
            )

        @rule(data=st.data(), close=st.booleans())
        def link_detach(self, data, close):
            if not self.links:
                return
            link = data.draw(st.sampled_from(self.links))
            if close:
                self.both(lambda: self.ref.link_close(link), link.close)
            else:
                ref_op = (
                    (lambda: fail(errno.EBADF))
                    if link in self.ref.closed
                    else (lambda: self.ref.link_release(link))
                )
                self.both(ref_op, link.detach)

        @rule(capacity=st.one_of(st.none(), st.integers(0, cap + 1)), want=st.booleans())
        def query(self, capacity, want):
            r = self.hook.prog_query(capacity, want)
            count, rev, items = self.ref.query()
            assert (r.count, r.revision, r.attach_flags) == (count, rev, 0)
            k = (
                0
                if not want or capacity == 0
                else min(count, cap if capacity is None else capacity)
            )
            assert r.prog_ids == tuple(p.id for p, _ in items[:k])
            assert r.link_ids == tuple(lk.id if lk else 0 for _, lk in items[:k])
            short = want and capacity is not None and 0 < capacity < count
            assert r.errno == (errno.ENOSPC if short else 0)

        @rule(on=st.booleans())
        def miniq(self, on):
            if persistent:
                return
            self.ref.set_miniq(on)
            self.hook.miniq_active = on

        @rule()
        def uninstall(self):
            self.ref.uninstall()
            self.hook.uninstall()

        # -- checked after every step --

        @invariant()
        def same_state(self):
            items = self.ref.items or []
            assert self.hook.slots == tuple(items)
            assert self.hook.progs == tuple(p.func for p, _ in items)
            assert (self.hook.entry is None) == (self.ref.published() is None)
            r = self.hook.prog_query()
            assert (r.count, r.revision) == self.ref.query()[:2]
            assert r.revision >= 1 and r.count <= cap <= 63
            progs = [p for p, _ in items]
            assert len(progs) == len({id(p) for p in progs})
            if self.hook._bundle is not None:
                assert self.hook._bundle.revision == self.ref.rev >= 1
            for link in self.links:
                assert link.defunct == (link not in self.ref.live)
                assert link.closed == (link in self.ref.closed)
                assert link.prog is self.ref.link_prog[link]

    return Machine


_settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None, suppress_health_check=list(HealthCheck)
)

TestMprogModelTcx = make_machine(63, persistent=False).TestCase
TestMprogModelTcx.settings = _settings
TestMprogModelTcxSmall = make_machine(3, persistent=False).TestCase
TestMprogModelTcxSmall.settings = _settings
TestMprogModelNetkitSmall = make_machine(3, persistent=True).TestCase
TestMprogModelNetkitSmall.settings = _settings
