"""The rbtree kfuncs' tree: the kernel's order, ties, removal and the balanced walk."""

from __future__ import annotations

import pytest
from bpf_corpus import EXAMPLES
from hypothesis import given
from hypothesis import strategies as st

from qdisclab.bpf.btf import BTF_KIND_STRUCT
from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.kfunc_binding import _GENERIC, ProgramEnv
from qdisclab.bpf.objects import load_object
from qdisclab.bpf.rbtree_kfuncs import RbRoot


def _filled(keys: list[int]) -> tuple[RbRoot, dict[int, int]]:
    root = RbRoot()
    key_of = {}
    for i, key in enumerate(keys):
        addr = 0x1000 * (i + 1)
        key_of[addr] = key
        root.add(addr, lambda a, b: key_of[a] < key_of[b])
    return root, key_of


def _in_order(root: RbRoot, node: int) -> list[int]:
    if not node:
        return []
    return [*_in_order(root, root.left(node)), node, *_in_order(root, root.right(node))]


@given(st.lists(st.integers(0, 5), max_size=40))
def test_equal_keys_keep_insertion_order_and_first_is_leftmost(keys):
    root, key_of = _filled(keys)
    # Sorted by key; among equal keys the earlier add comes first (it went left).
    assert root.nodes == sorted(key_of, key=lambda a: (key_of[a], a))
    assert root.first() == (root.nodes[0] if keys else 0)


@given(st.lists(st.integers(0, 1000), max_size=60))
def test_walking_from_the_root_visits_the_nodes_in_order_through_a_balanced_tree(keys):
    root, _ = _filled(keys)
    assert _in_order(root, root.root()) == root.nodes

    def depth(node: int) -> int:
        return 0 if not node else 1 + max(depth(root.left(node)), depth(root.right(node)))

    assert depth(root.root()) == len(keys).bit_length()  # balanced, as a red-black tree is


def test_remove_takes_out_only_nodes_in_the_tree():
    root, key_of = _filled([3, 1, 2])
    [n1, n2, n3] = sorted(key_of, key=key_of.get)
    assert root.remove(n2) and root.nodes == [n1, n3]
    assert not root.remove(n2)  # a second remove finds nothing
    assert root.left(n2) == 0 and root.right(n2) == 0
    assert root.root() == n3 and root.left(n3) == n1


class _Vm:
    """The calling program, as far as the kfuncs see it: its memory and its less callback."""

    def __init__(self, env):
        self.memory = env.memory

    def call_function(self, address, a, b, *_):
        assert address == LESS
        due = self.memory.load
        return int(due(a + DUE, 8) < due(b + DUE, 8))


LESS, DUE = 0x1234, 32  # struct fq_wait { struct bpf_rb_node rb; __u64 due; ... }


def test_kfuncs_order_by_the_programs_callback_and_keep_the_kernels_rules():
    obj = load_object(EXAMPLES / "fq.bpf.o")
    env = ProgramEnv(obj, "Qdisc_ops")
    vm = _Vm(env)
    wait = obj.btf.find("fq_wait", BTF_KIND_STRUCT).id

    def call(name, *args):
        return _GENERIC[name](env, vm, *args, *(0,) * (5 - len(args)))

    root = 0x7000_0000_0000  # the bpf_rb_root's address: any stable value names the tree
    nodes = []
    for due in (30, 10, 20, 10):
        node = call("bpf_obj_new_impl", wait, 0)
        env.memory.store(node + DUE, 8, due)
        assert call("bpf_rbtree_add_impl", root, node, LESS) == 0
        nodes.append(node)
    first = call("bpf_rbtree_first", root)
    assert first == nodes[1]  # the smallest due time, the earlier of the two tens
    with pytest.raises(BpfFault, match="already in a tree"):
        call("bpf_rbtree_add_impl", root, first, LESS)
    assert call("bpf_rbtree_remove", root, first) == first
    assert call("bpf_rbtree_remove", root, first) == 0  # no longer in the tree: NULL
    assert call("bpf_rbtree_first", root) == nodes[3]
    assert call("bpf_rbtree_root", root) == nodes[2]  # the middle of 10, 20, 30
    assert call("bpf_rbtree_left", root, nodes[2]) == nodes[3]
    assert call("bpf_rbtree_right", root, nodes[2]) == nodes[0]
    with pytest.raises(BpfFault, match="not a node of an object"):
        call("bpf_rbtree_add_impl", root, 0x9999_0000_0000, LESS)
