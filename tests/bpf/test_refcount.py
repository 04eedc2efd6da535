"""Shared objects: ``bpf_refcount_acquire`` and the references ``bpf_obj_drop`` gives back.

``tests/bpf/objects/refcount_shared.bpf.o`` keeps each packet's node in a list
and an rbtree at once (a second reference from ``bpf_refcount_acquire``);
dequeue drops both, and only the second frees the node. The kfunc-level tests
drive the same kfuncs by hand on that object's types.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from bpf_corpus import obj

from qdisclab.bpf.bpf_qdisc import qdisc_kind
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.kfunc_binding import _GENERIC, KfuncFault, ProgramEnv
from qdisclab.bpf.memory import BytesRegion
from qdisclab.bpf.objects import load_object
from qdisclab.bpf.special_fields import special_fields
from qdisclab.bpf.verifier.objects import verify_object
from qdisclab.net import World
from qdisclab.ops import RUNNING
from qdisclab.ops.ownership import OwnershipViolation
from qdisclab.sched import create_qdisc
from qdisclab.skb import IPPROTO_UDP, SkBuff, skb_consume

SHARED = load_object(Path(__file__).parent / "objects" / "refcount_shared.bpf.o")
EINVAL = -22 & 0xFFFF_FFFF_FFFF_FFFF


def _call(fn, *regs):
    return fn(None, *(*regs, 0, 0, 0, 0, 0)[:5])


@pytest.fixture
def env():
    return ProgramEnv(SHARED, "Qdisc_ops")


def _node_type(env):
    type_id = next(t.id for t in env.btf.types if t.name == "shared_node")
    offsets = {f.kind: f.offset for f in special_fields(env.btf, type_id)}
    return type_id, offsets


class Device:
    def __init__(self) -> None:
        self.world = World(seed=1)
        a, b = self.world.add_host("A"), self.world.add_host("B")
        self.dev = self.world.connect(a, b, "1gbit", "1ms").a
        self.books = self.world.flow_books("t")
        self.src, self.dst = a.addr, b.addr

    def skb(self, length: int) -> SkBuff:
        skb = SkBuff(length, self.src, self.dst, 1, 2, IPPROTO_UDP, self.world.now, self.books)
        self.books.book_sent(skb)
        return skb


@pytest.mark.parametrize("engine", ["translate", "interp"])
def test_a_node_in_a_list_and_a_tree_is_freed_by_its_second_drop(engine):
    d = Device()
    kind = qdisc_kind(SHARED, engine=engine, verify=False)
    q = create_qdisc(kind, d.dev, opt={"limit": 10})
    d.dev.set_qdisc(q)
    env = q.ops.env
    skbs = [d.skb(n) for n in (900, 100, 500)]
    assert [q.enqueue(s) for s in skbs] == [0, 0, 0]
    # each node: one reference held by the list, one by the tree
    assert sorted(env.refcounts.values()) == [2, 2, 2]
    assert len(env.objects) == 3 and sum(len(t.nodes) for t in env.trees.values()) == 3
    [tree] = env.trees.values()
    lengths = [env.kptrs[(rb & ~0xFFFF_FFFF) + 72].skb.len for rb in tree.nodes]
    assert lengths == [100, 500, 900]  # the tree orders by length (the program's less)
    out = []
    while (s := q.dequeue()) is not None:
        out.append(s)
        assert len(env.objects) == 3 - len(out)  # the second drop freed the node
    assert out == skbs  # the list keeps arrival order
    assert env.refcounts == {} and tree.nodes == [] and (q.qlen, q.backlog) == (0, 0)
    for s in out:
        skb_consume(s)
    d.world.check_conservation()


def test_acquire_adds_an_owner_and_only_the_last_drop_checks_the_kptr(env):
    kfuncs, helpers = env.kfuncs(), env.helpers()
    type_id, off = _node_type(env)
    world = World(seed=1)
    a, b = world.add_host("A"), world.add_host("B")
    q = create_qdisc("pfifo", world.connect(a, b, "1gbit", "1ms").a)
    books = world.flow_books("t")
    skb = SkBuff(1000, a.addr, b.addr, 1, 2, IPPROTO_UDP, 0, books)
    books.book_sent(skb)
    RUNNING.frame = frame = q._frames["enqueue"]
    skb.owner = frame
    try:
        node = _call(kfuncs["bpf_obj_new_impl"], type_id, 0)
        assert env.refcounts[node] == 1
        assert _call(kfuncs["bpf_refcount_acquire_impl"], node, 0) == node  # the same object
        assert env.refcounts[node] == 2
        assert _call(helpers[194], node + off["kptr"], env.skb_address(skb)) == 0
        _call(kfuncs["bpf_obj_drop_impl"], node, 0)  # another owner remains: nothing freed
        assert env.refcounts[node] == 1 and skb.owner is env.kptrs[node + off["kptr"]]
        assert env.memory.load(node + off["kptr"], 8) == env.skb_address(skb)
        with pytest.raises(KfuncFault, match="freed while holding") as caught:
            _call(kfuncs["bpf_obj_drop_impl"], node, 0)  # the last one: the skb would leak
        assert isinstance(caught.value.cause, OwnershipViolation)
        assert env.refcounts[node] == 1  # refused: still alive, as before the call
        assert _call(helpers[194], node + off["kptr"], 0) == env.skb_address(skb)
        _call(kfuncs["bpf_obj_drop_impl"], node, 0)
        assert node >> 32 not in env.objects and node not in env.refcounts
        q.ctx.drop(skb, q._to_free)
        frame.acquired.clear()
    finally:
        RUNNING.frame = None


def test_a_shared_node_pushed_twice_is_refused_with_einval_and_its_reference_dropped(env):
    kfuncs = env.kfuncs()
    type_id, off = _node_type(env)
    head = env.memory.map(BytesRegion("head", bytearray(16)))
    node = _call(kfuncs["bpf_obj_new_impl"], type_id, 0)
    _call(kfuncs["bpf_refcount_acquire_impl"], node, 0)
    _call(kfuncs["bpf_refcount_acquire_impl"], node, 0)
    assert env.refcounts[node] == 3
    link = node + off["list_node"]
    assert _call(kfuncs["bpf_list_push_back_impl"], head, link) == 0
    assert _call(kfuncs["bpf_list_push_back_impl"], head, link) == EINVAL
    assert env.refcounts[node] == 2  # the refused reference was dropped, as the kernel does
    assert _call(kfuncs["bpf_list_pop_front"], head) == link
    assert _call(kfuncs["bpf_list_pop_front"], head) == 0  # it was in the list once
    # the same for a tree (one node: the program's less is never called)
    root = env.memory.map(BytesRegion("root", bytearray(16)))
    add, rb = kfuncs["bpf_rbtree_add_impl"], node + off["rb_node"]
    vm = SimpleNamespace(call_function=None)
    assert add(vm, root, rb, 0, 0, 0) == 0 and env.refcounts[node] == 2
    assert add(vm, root, rb, 0, 0, 0) == EINVAL and env.refcounts[node] == 1
    assert env.trees[root].nodes == [rb]


def test_acquire_refuses_what_is_not_a_shared_object(env):
    kfuncs = env.kfuncs()
    acquire = kfuncs["bpf_refcount_acquire_impl"]
    plain = ProgramEnv(load_object(obj("fifo")), "Qdisc_ops")
    fifo_node = next(t.id for t in plain.btf.types if t.name == "fifo_node")
    # the FIFO's nodes have no bpf_refcount: one owner only
    node = _call(plain.kfuncs()["bpf_obj_new_impl"], fifo_node, 0)
    with pytest.raises(BpfFault, match="has no struct bpf_refcount field"):
        _GENERIC["bpf_refcount_acquire_impl"](plain, None, node, 0)
    with pytest.raises(BpfFault, match="not an object from bpf_obj_new"):
        _call(acquire, 0x1234, 0)
    type_id, _ = _node_type(env)
    shared = _call(kfuncs["bpf_obj_new_impl"], type_id, 0)
    _call(kfuncs["bpf_obj_drop_impl"], shared, 0)  # its only reference: freed
    with pytest.raises(BpfFault, match="not an object from bpf_obj_new"):
        _call(acquire, shared, 0)  # a dangling pointer names no object


def test_the_verifier_says_it_does_not_model_shared_objects():
    [verdict] = [v for v in verify_object(SHARED) if not v.accepted]
    assert verdict.error.rule == "unsupported"
    assert verdict.error.message.startswith("bpf_refcount_acquire_impl is not supported")
