"""HashMap and LruHashMap against a plain reference model (hypothesis stateful)."""

import errno
import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from qdisclab.errors import KernelError
from qdisclab.ops.maps import BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, HashMap, LruHashMap

CAP = 3
keys = st.integers(0, 5)
flags_st = st.sampled_from([BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK, 3])
_ids = itertools.count()


class Val:
    def __init__(self):
        self.id = next(_ids)
        self.dtors = 0

    def __bpf_dtor__(self):
        self.dtors += 1

    def __repr__(self):
        return f"Val{self.id}"


def fail(number):
    """An errno as a tagged tuple (keys and errnos are both small ints), None for success."""
    return None if number is None else ("errno", number)


class Model:
    """Reference semantics, written as plainly as possible."""

    def __init__(self, lru):
        self.lru = lru
        self.items = {}  # insertion order
        self.recency = []  # least recent first (LRU only)
        self.released = []

    def touch(self, key):
        if self.lru:
            if key in self.recency:
                self.recency.remove(key)
            self.recency.append(key)

    def update(self, key, value, flags):
        if flags not in (BPF_ANY, BPF_NOEXIST, BPF_EXIST):
            return errno.EINVAL
        present = key in self.items
        if present and flags == BPF_NOEXIST:
            return errno.EEXIST
        if not present and flags == BPF_EXIST:
            return errno.ENOENT
        if not present and len(self.items) >= CAP:
            if not self.lru:
                return errno.E2BIG
            victim = self.recency.pop(0)
            self.released.append(self.items.pop(victim))
        if present and self.items[key] is not value:
            self.released.append(self.items[key])
        self.items[key] = value
        self.touch(key)
        return None

    def delete(self, key):
        if key not in self.items:
            return errno.ENOENT
        self.released.append(self.items.pop(key))
        if self.lru:
            self.recency.remove(key)
        return None

    def next_key(self, key):
        order = list(self.items)
        if key in self.items:
            i = order.index(key)
            return order[i + 1] if i + 1 < len(order) else fail(errno.ENOENT)
        return order[0] if order else fail(errno.ENOENT)


def outcome(fn, *args):
    """fn's result, or ``fail(errno)``."""
    try:
        return fn(*args)
    except KernelError as e:
        return ("errno", e.errno)


class MapMachine(RuleBasedStateMachine):
    lru = False

    @initialize()
    def setup(self):
        self.map = LruHashMap(CAP) if self.lru else HashMap(CAP)
        self.model = Model(self.lru)
        self.rejected = []

    @rule(key=keys, flags=flags_st)
    def update(self, key, flags):
        value = Val()
        got = outcome(self.map.update, key, value, flags)
        want = self.model.update(key, value, flags)
        assert got == fail(want)
        if want is not None:
            self.rejected.append(value)

    @rule(key=keys)
    def update_same_object(self, key):
        value = self.map.lookup_sys(key)
        if value is not None:
            assert outcome(self.map.update, key, value, BPF_EXIST) is None
            assert self.model.update(key, value, BPF_EXIST) is None

    @rule(key=keys)
    def delete(self, key):
        assert outcome(self.map.delete, key) == fail(self.model.delete(key))

    @rule(key=keys)
    def lookup(self, key):
        assert self.map.lookup(key) is self.model.items.get(key)
        if key in self.model.items:
            self.model.touch(key)

    @rule(key=keys)
    def lookup_sys(self, key):
        assert self.map.lookup_sys(key) is self.model.items.get(key)

    @rule(key=st.none() | keys)
    def get_next_key(self, key):
        assert outcome(self.map.get_next_key, key) == self.model.next_key(key)

    @rule()
    def walk(self):
        walked, key = [], None
        while True:
            key = outcome(self.map.get_next_key, key)
            if key == fail(errno.ENOENT):
                break
            walked.append(key)
        assert walked == list(self.model.items)

    @rule(data=st.data())
    def clear(self, data):
        if data.draw(st.integers(0, 9)) == 0:  # rarely: keep maps mostly busy
            self.map.clear()
            self.model.released.extend(self.model.items.values())
            self.model.items.clear()
            self.model.recency.clear()

    @invariant()
    def same_contents_and_order(self):
        assert self.map.dump() == list(self.model.items.items())
        assert len(self.map) == len(self.model.items)
        if self.lru:
            assert self.map.lru_order() == self.model.recency

    @invariant()
    def destructors_exactly_once_per_removal(self):
        live = set(map(id, self.model.items.values()))
        assert all(v.dtors == 0 for v in self.model.items.values())
        assert all(v.dtors == 1 for v in self.model.released if id(v) not in live)
        assert all(v.dtors == 0 for v in self.rejected)


class LruMapMachine(MapMachine):
    lru = True


TestHashMapModel = MapMachine.TestCase
TestLruHashMapModel = LruMapMachine.TestCase
TestHashMapModel.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestLruHashMapModel.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
