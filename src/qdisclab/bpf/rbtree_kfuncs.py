"""The rbtree kfuncs a compiled program calls: ``bpf_rbtree_add_impl`` and its walkers.

A ``bpf_rb_root`` in a program's global data (or a map value) orders
``bpf_rb_node`` links of objects from ``bpf_obj_new`` by the program's own
``less(a, b)`` callback, as ``kernel/bpf/helpers.c`` does: a new node goes
left of every node it is ``less`` than and right of the others, so nodes that
compare equal keep their insertion order and ``bpf_rbtree_first`` is the
leftmost (the earliest added of the smallest). Each root is an
:class:`RbRoot`: its nodes in order, kept sorted by a binary search that
calls ``less`` O(log n) times per add (the number of comparisons a balanced
tree makes). ``bpf_rbtree_root``/``left``/``right`` walk the balanced tree
over that order (the root is the middle node, each subtree the middle of its
half), so a program that searches from the root finds what it would in the
kernel's tree.

The skbs an object holds stay in its ``__kptr`` fields' :class:`SkbNode`, so
ownership moves exactly as for a Python qdisc's ``SkbRbTree`` of flows: the
tree orders nodes, the nodes own the skbs.

The kernel's rules, kept at run time: a node must belong to an object from
``bpf_obj_new`` and may be in one tree (or list) at a time (a fault
otherwise, or for a shared object -EINVAL and its reference dropped, as the
kernel's ``__bpf_rbtree_add``); ``bpf_rbtree_remove`` of a node not in this tree returns NULL;
the walkers return NULL past a leaf.

>>> root = RbRoot()
>>> for addr, key in ((10, 3), (20, 1), (30, 3), (40, 2)):
...     root.add(addr, lambda a, b, k={10: 3, 20: 1, 30: 3, 40: 2}: k[a] < k[b])
>>> root.nodes, root.root(), root.left(40), root.right(40)
([20, 40, 10, 30], 10, 20, 0)
"""

from __future__ import annotations

from collections.abc import Callable

from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.kfunc_binding import ProgramEnv, _generic, refuse_node
from qdisclab.bpf.memory import REGION_SHIFT
from qdisclab.bpf.resolver import CallContext

M64 = 0xFFFF_FFFF_FFFF_FFFF


class RbRoot:
    """One ``bpf_rb_root``: node addresses in ``less`` order, and the balanced tree over them."""

    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes: list[int] = []

    def add(self, node: int, less: Callable[[int, int], bool]) -> None:
        """Insert ``node`` right of every node it is not ``less`` than (the kernel's walk)."""
        nodes = self.nodes
        lo, hi = 0, len(nodes)
        while lo < hi:
            mid = (lo + hi) // 2
            if less(node, nodes[mid]):
                hi = mid
            else:
                lo = mid + 1
        nodes.insert(lo, node)

    def remove(self, node: int) -> bool:
        try:
            self.nodes.remove(node)
        except ValueError:
            return False
        return True

    def first(self) -> int:
        return self.nodes[0] if self.nodes else 0

    def root(self) -> int:
        nodes = self.nodes
        return nodes[len(nodes) // 2] if nodes else 0

    def _span(self, node: int) -> tuple[int, int, int] | None:
        """(lo, index, hi): where ``node`` sits in the balanced tree, or None."""
        try:
            index = self.nodes.index(node)
        except ValueError:
            return None
        lo, hi = 0, len(self.nodes)
        while True:
            mid = (lo + hi) // 2
            if mid == index:
                return lo, index, hi
            if index < mid:
                hi = mid
            else:
                lo = mid + 1

    def left(self, node: int) -> int:
        span = self._span(node)
        if span is None or span[0] == span[1]:
            return 0
        return self.nodes[(span[0] + span[1]) // 2]

    def right(self, node: int) -> int:
        span = self._span(node)
        if span is None or span[1] + 1 == span[2]:
            return 0
        return self.nodes[(span[1] + 1 + span[2]) // 2]


def _tree(env: ProgramEnv, root: int) -> RbRoot:
    tree = env.trees.get(root)
    if tree is None:
        tree = env.trees[root] = RbRoot()
    return tree


@_generic("bpf_rbtree_add_impl")
def _rbtree_add(
    env: ProgramEnv, vm: CallContext, root: int, node: int, less: int, meta: int, off: int
) -> int:
    if env.in_list(node) or node in env.in_tree:
        refused = refuse_node(env, node)
        if refused is not None:
            return refused
        raise BpfFault(f"bpf_rbtree_add of node {node:#x}, which is already in a tree or list")
    if (node >> REGION_SHIFT) not in env.objects:
        raise BpfFault(f"bpf_rbtree_add of {node:#x}: not a node of an object from bpf_obj_new")
    call = vm.call_function

    def is_less(a: int, b: int) -> bool:
        return bool(call(less, a, b) & 0xFF)  # the callback returns a C bool

    _tree(env, root).add(node, is_less)
    env.in_tree[node] = root
    return 0


@_generic("bpf_rbtree_remove")
def _rbtree_remove(env: ProgramEnv, vm: CallContext, root: int, node: int, *_: int) -> int:
    if env.in_tree.get(node) != root:
        return 0  # not in this tree: NULL, as the kernel's RB_EMPTY_NODE / owner check
    del env.in_tree[node]
    _tree(env, root).remove(node)
    return node


@_generic("bpf_rbtree_first")
def _rbtree_first(env: ProgramEnv, vm: CallContext, root: int, *_: int) -> int:
    return _tree(env, root).first()


@_generic("bpf_rbtree_root")
def _rbtree_root(env: ProgramEnv, vm: CallContext, root: int, *_: int) -> int:
    return _tree(env, root).root()


@_generic("bpf_rbtree_left")
def _rbtree_left(env: ProgramEnv, vm: CallContext, root: int, node: int, *_: int) -> int:
    return _tree(env, root).left(node)


@_generic("bpf_rbtree_right")
def _rbtree_right(env: ProgramEnv, vm: CallContext, root: int, node: int, *_: int) -> int:
    return _tree(env, root).right(node)


__all__ = ["RbRoot"]
