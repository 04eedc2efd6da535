"""Socket local storage on real TCP sockets: freed on close, BPF_F_CLONE values
inherited by the accepted child (sk_clone_lock), ENOMEM on clone drops the child."""

from __future__ import annotations

from tests.tcp.helpers import two_hosts

from qdisclab.tcp import TcpStack
from qdisclab.tcp.apps import FiniteTransfer
from qdisclab.tcp.sk_storage import (
    BPF_F_CLONE,
    BPF_F_NO_PREALLOC,
    BPF_SK_STORAGE_GET_F_CREATE,
    SkStorageMap,
    SkStorageWorld,
)
from qdisclab.tcp.sock import TCP_CLOSE

SEC = 1_000_000_000


def test_storage_freed_when_the_socket_closes():
    sw = SkStorageWorld()
    m = SkStorageMap(8, BPF_F_NO_PREALLOC, world=sw)
    w, a, b = two_hosts()
    t = FiniteTransfer(a, b, 80, 100_000, "x", cc="reno")
    w.run(1_000_000)  # SYN sent: the client socket exists
    sk = t.sk
    assert m.get(sk, b"12345678", BPF_SK_STORAGE_GET_F_CREATE) is not None
    assert len(m) == 1 and sk.sk_omem_alloc > 0
    w.run(2 * SEC)
    assert sk.state == TCP_CLOSE
    assert len(m) == 0 and sk.sk_bpf_storage is None and sk.sk_omem_alloc == 0
    # A destroyed socket cannot get new storage.
    assert m.get(sk, None, BPF_SK_STORAGE_GET_F_CREATE) is None


def test_clone_flag_values_follow_accept_others_do_not():
    sw = SkStorageWorld()
    cloned = SkStorageMap(4, BPF_F_NO_PREALLOC | BPF_F_CLONE, world=sw)
    plain = SkStorageMap(4, BPF_F_NO_PREALLOC, world=sw)
    w, a, b = two_hosts()
    lst = TcpStack.of(b).listen(80)
    cloned.get(lst, b"\x07\0\0\0", BPF_SK_STORAGE_GET_F_CREATE)
    plain.get(lst, b"\x09\0\0\0", BPF_SK_STORAGE_GET_F_CREATE)
    TcpStack.of(a).connect(b.addr, 80, "c")
    w.run(SEC // 10)
    child = lst.accepted[0]
    assert cloned.get(child)[0] == 7
    assert plain.get(child) is None
    # Independent copies: writing the child's value leaves the listener's alone.
    cloned.get(child)[0] = 1
    assert cloned.get(lst)[0] == 7
    assert len(cloned) == 2
    lst.close()
    assert len(cloned) == 1 and len(plain) == 0


def test_clone_enomem_drops_the_child():
    # optmem_max below what one value costs: the listener's own value fits only because
    # it is charged against the listener; the child's copy must be refused.
    sw = SkStorageWorld(optmem_max=1 << 20)
    m = SkStorageMap(4, BPF_F_NO_PREALLOC | BPF_F_CLONE, world=sw)
    w, a, b = two_hosts()
    lst = TcpStack.of(b).listen(80)
    m.get(lst, None, BPF_SK_STORAGE_GET_F_CREATE)
    sw.optmem_max = 0
    sk = TcpStack.of(a).connect(b.addr, 80, "c")
    w.run(SEC // 2)
    assert lst.accepted == [] and sk.state != 1
    assert len(m) == 1  # only the listener's
    w.check_conservation()
