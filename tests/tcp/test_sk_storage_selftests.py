"""Clone on accept and the kernel selftest scenarios (spec A.10) that need no TCP."""

from __future__ import annotations

import copy
import errno
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdisclab.errors import KernelError
from qdisclab.tcp.sk_storage import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_CLONE,
    BPF_F_LOCK,
    BPF_F_NO_PREALLOC,
    BPF_NOEXIST,
    BPF_SK_STORAGE_GET_F_CREATE,
    LOCAL_STORAGE_SIZE,
    SkStorageMap,
    SkStorageWorld,
    sk_storage_clone,
    sk_storage_free,
)

F_CREATE = BPF_SK_STORAGE_GET_F_CREATE
CLONE = BPF_F_NO_PREALLOC | BPF_F_CLONE


class FakeSock:
    __slots__ = ("sk_bpf_inline", "sk_bpf_storage", "sk_omem_alloc")

    def __init__(self, omem: int = 0) -> None:
        self.sk_bpf_storage = None
        self.sk_bpf_inline = None
        self.sk_omem_alloc = omem


def errno_of(fn, *args) -> int:
    with pytest.raises(KernelError) as info:
        fn(*args)
    return info.value.errno


# --- clone on accept (prog_tests/sockopt_inherit.c) ------------------------------------------


def test_sockopt_inherit_table():
    w = SkStorageWorld()
    cloned1 = SkStorageMap(1, CLONE, world=w)
    cloned2 = SkStorageMap(1, CLONE, world=w)
    listener_only = SkStorageMap(1, BPF_F_NO_PREALLOC, world=w)
    listener, client = FakeSock(), FakeSock()
    for m in (cloned1, cloned2, listener_only):
        m.get(listener, None, F_CREATE)[0] = 1
    child = copy.copy(listener)  # sk_clone_lock copies the whole sock first
    child.sk_omem_alloc = 0
    sk_storage_clone(listener, child)

    def row(sk):
        return [m.get(sk, None, F_CREATE)[0] for m in (cloned1, cloned2, listener_only)]

    assert row(listener) == [1, 1, 1]
    assert row(child) == [1, 1, 0]
    assert row(client) == [0, 0, 0]


def test_clone_gives_the_child_its_own_storage():
    w = SkStorageWorld()
    a, b = SkStorageMap(4, CLONE, world=w), SkStorageMap(4, CLONE, world=w)
    parent = FakeSock()
    a.update(parent, b"aaaa")
    b.update(parent, b"bbbb")
    child = copy.copy(parent)  # still points at the parent's storage until cloned
    child.sk_omem_alloc = 0  # sk_clone_lock resets option memory before the clone
    sk_storage_clone(parent, child)
    assert child.sk_bpf_storage is not parent.sk_bpf_storage
    assert [e.smap for e in child.sk_bpf_storage.elems] == [a, b]  # head inserts reverse
    assert child.sk_omem_alloc == parent.sk_omem_alloc  # charged to the child
    a.get(child)[0] = ord("X")
    a.update(parent, b"zzzz")
    assert a.syscall_lookup(parent) == b"zzzz" and a.syscall_lookup(child) == b"Xaaa"
    sk_storage_free(parent)
    assert len(a) == 1 and b.syscall_lookup(child) == b"bbbb"


def test_clone_from_listener_without_storage_leaves_child_empty():
    child = FakeSock()
    sk_storage_clone(FakeSock(), child)
    assert child.sk_bpf_storage is None and child.sk_omem_alloc == 0


def test_clone_enomem_leaves_cleanup_to_the_caller():
    w = SkStorageWorld()
    maps = [SkStorageMap(1000, CLONE, world=w) for _ in range(2)]
    parent = FakeSock()
    for m in maps:
        m.update(parent, None)
    child = FakeSock(omem=w.optmem_max - LOCAL_STORAGE_SIZE - 1072 - 500)  # room for one
    assert errno_of(sk_storage_clone, parent, child) == errno.ENOMEM
    assert len(child.sk_bpf_storage.elems) == 1  # partial copy, as the kernel leaves it
    sk_storage_free(child)
    assert child.sk_omem_alloc == w.optmem_max - LOCAL_STORAGE_SIZE - 1072 - 500
    assert [len(m) for m in maps] == [1, 1]


# --- map_tests/sk_storage_map.c: basic --------------------------------------------------------


def val(cnt: int) -> bytes:
    return struct.pack("<iI", cnt, 0)  # {int cnt; struct bpf_spin_lock l;}


def cnt_of(data: bytes) -> int:
    return struct.unpack_from("<i", data)[0]


def test_sk_storage_map_basic():
    w = SkStorageWorld()
    m = SkStorageMap(8, BPF_F_NO_PREALLOC, world=w, spin_lock=True)  # 1
    sk = FakeSock()
    m.syscall_update(sk, val(1), BPF_NOEXIST | BPF_F_LOCK)  # 2
    assert cnt_of(m.syscall_lookup(sk, BPF_F_LOCK)) == 1
    m.syscall_update(sk, val(2), BPF_EXIST | BPF_F_LOCK)  # 3
    assert cnt_of(m.syscall_lookup(sk, BPF_F_LOCK)) == 2
    m.syscall_update(sk, val(3), BPF_EXIST)  # 4: replacement path
    assert cnt_of(m.syscall_lookup(sk)) == 3
    for flags in (BPF_NOEXIST | BPF_F_LOCK, BPF_NOEXIST):  # 5
        assert errno_of(m.syscall_update, sk, val(9), flags) == errno.EEXIST
    assert cnt_of(m.syscall_lookup(sk)) == 3
    m.syscall_update(sk, val(4), BPF_ANY)  # 6
    assert cnt_of(m.syscall_lookup(sk)) == 4
    m.syscall_delete(sk)  # 7
    assert errno_of(m.syscall_lookup, sk) == errno.ENOENT
    assert errno_of(m.syscall_delete, sk) == errno.ENOENT
    bad = [  # 8..11
        {"btf_key_type": None},
        {"btf_key_type": "struct val"},
        {"max_entries": 1},
    ]
    for kw in bad:
        assert errno_of(lambda kw=kw: SkStorageMap(8, BPF_F_NO_PREALLOC, world=w, **kw)) == 22
    assert errno_of(lambda: SkStorageMap(8, 0, world=w)) == errno.EINVAL


def test_stress_free_map_destroyed_while_sockets_live():
    w = SkStorageWorld()
    socks = [FakeSock() for _ in range(4 * 64)]
    keep = SkStorageMap(4, BPF_F_NO_PREALLOC, world=w)
    for sk in socks[::2]:
        keep.update(sk, b"keep")
    for round_ in range(20):
        m = SkStorageMap(4, BPF_F_NO_PREALLOC, world=w)
        for sk in socks[round_ % 4 :: 4]:
            m.update(sk, None, BPF_NOEXIST)
        m.free()
    assert all((sk.sk_bpf_storage is None) == (i % 2 == 1) for i, sk in enumerate(socks))
    assert all(sk.sk_omem_alloc in (0, LOCAL_STORAGE_SIZE + keep.elem_size) for sk in socks)
    assert sum(w.cache.idx_usage_counts) == 1
    assert all(keep.syscall_lookup(sk) == b"keep" for sk in socks[::2])


def test_stress_change_update_never_fails_delete_only_enoent():
    m = SkStorageMap(4, BPF_F_NO_PREALLOC, world=SkStorageWorld())
    sk = FakeSock()
    deletes_failed = 0
    for i in range(500):
        if i % 3 == 2:
            try:
                m.syscall_delete(sk)
            except KernelError as exc:
                assert exc.errno == errno.ENOENT
                deletes_failed += 1
        else:
            m.syscall_update(sk, i.to_bytes(4, "little"), 0)
    assert deletes_failed == 0  # every delete followed an update
    assert errno_of(m.syscall_delete, FakeSock()) == errno.ENOENT


def test_omem_uncharge_after_two_updates_and_destroy():
    m = SkStorageMap(4, BPF_F_NO_PREALLOC, world=SkStorageWorld())
    sk = FakeSock()
    m.syscall_update(sk, (0).to_bytes(4, "little"), 0)
    m.syscall_update(sk, (0xDEADBEEF).to_bytes(4, "little"), 0)
    assert m.syscall_lookup(sk) == (0xDEADBEEF).to_bytes(4, "little")  # the final value
    sk_storage_free(sk)
    assert sk.sk_omem_alloc == 0


def test_dctcp_init_reads_and_deletes_precreated_value():
    m = SkStorageMap(4, BPF_F_NO_PREALLOC, world=SkStorageWorld())
    sk = FakeSock()
    m.syscall_update(sk, (0xEB9F).to_bytes(4, "little"), BPF_NOEXIST)  # before connect
    stg = m.get(sk)  # struct_ops init
    stg_result = int.from_bytes(stg, "little")
    assert m.helper_delete(sk) == 0
    assert stg_result == 0xEB9F
    assert errno_of(m.syscall_lookup, sk) == errno.ENOENT


def test_tcp_rtt_style_counter_created_on_demand():
    m = SkStorageMap(8, BPF_F_NO_PREALLOC, world=SkStorageWorld())
    sk = FakeSock()
    for _ in range(5):  # one sock_ops callback per RTT sample
        v = m.get(sk, None, F_CREATE)
        struct.pack_into("<Q", v, 0, struct.unpack_from("<Q", v)[0] + 1)
    assert struct.unpack("<Q", m.syscall_lookup(sk))[0] == 5


# --- invariants under random operation sequences ---------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["get", "create", "update", "delete", "free_sk", "clone", "free_map"]),
        st.integers(0, 19),  # map
        st.integers(0, 3),  # socket
        st.sampled_from([BPF_ANY, BPF_NOEXIST, BPF_EXIST]),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_invariants_against_a_dict_model(ops):
    w = SkStorageWorld(optmem_max=10**9)
    maps = [SkStorageMap(2, CLONE if i % 2 else BPF_F_NO_PREALLOC, world=w) for i in range(20)]
    socks = [FakeSock() for _ in range(4)]
    model: dict[tuple[int, int], bytes] = {}
    for n, (op, mi, si, flags) in enumerate(ops):
        m, sk = maps[mi], socks[si]
        v = n.to_bytes(2, "little")
        if m.freed and op != "free_sk" and op != "clone":
            continue
        if op == "get":
            got = m.get(sk)
            assert (None if got is None else bytes(got)) == model.get((mi, si))
        elif op == "create":
            got = m.get(sk, v, F_CREATE)
            assert bytes(got) == model.setdefault((mi, si), v)
        elif op == "update":
            present = (mi, si) in model
            if (flags == BPF_NOEXIST and present) or (flags == BPF_EXIST and not present):
                assert errno_of(m.update, sk, v, flags) in (errno.EEXIST, errno.ENOENT)
            else:
                m.update(sk, v, flags)
                model[(mi, si)] = v
        elif op == "delete":
            if (mi, si) in model:
                m.delete(sk)
                del model[(mi, si)]
            else:
                assert errno_of(m.delete, sk) == errno.ENOENT
        elif op == "free_sk":
            sk_storage_free(sk)
            model = {k: x for k, x in model.items() if k[1] != si}
        elif op == "clone":
            child_i = (si + 1) % 4
            sk_storage_free(socks[child_i])
            sk_storage_clone(sk, socks[child_i])
            model = {k: x for k, x in model.items() if k[1] != child_i}
            for (kmi, ksi), x in list(model.items()):
                if ksi == si and kmi % 2:
                    model[(kmi, child_i)] = x
        else:
            m.free()
            model = {k: x for k, x in model.items() if k[0] != mi}
    for si, sk in enumerate(socks):
        stg = sk.sk_bpf_storage
        held = {k[0] for k in model if k[1] == si}
        if stg is None:
            assert not held and sk.sk_omem_alloc == 0
            continue
        assert {maps.index(e.smap) for e in stg.elems} == held  # one element per map
        assert len(stg.elems) == len(held)
        assert all(c is None or c.local_storage is stg for c in stg.cache)
        assert sk.sk_omem_alloc == LOCAL_STORAGE_SIZE + sum(e.smap.elem_size for e in stg.elems)
    for mi, m in enumerate(maps):
        assert len(m) == sum(1 for k in model if k[0] == mi)
