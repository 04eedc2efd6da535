"""The rbtree kfuncs' tree: the kernel's order, ties, removal and the balanced walk."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

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
