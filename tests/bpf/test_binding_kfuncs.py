"""Kfunc binding: the declared table's implementations, skb handles, graph and iterator kfuncs."""

from __future__ import annotations

import pytest
from bpf_corpus import obj

from qdisclab.bpf.fault import BpfFault
from qdisclab.bpf.kfunc_binding import KfuncFault, ProgramEnv
from qdisclab.bpf.memory import BytesRegion
from qdisclab.bpf.objects import load_object
from qdisclab.net import World
from qdisclab.ops import RUNNING
from qdisclab.ops.ownership import OwnershipViolation
from qdisclab.sched import create_qdisc
from qdisclab.skb import IPPROTO_UDP, SkBuff


@pytest.fixture
def env():
    return ProgramEnv(load_object(obj("fifo")), "Qdisc_ops")


@pytest.fixture
def world_q():
    world = World(seed=1)
    a, b = world.add_host("A"), world.add_host("B")
    link = world.connect(a, b, "1gbit", "1ms")
    q = create_qdisc("pfifo limit 10", link.a)
    link.a.set_qdisc(q)
    books = world.flow_books("t")

    def skb() -> SkBuff:
        s = SkBuff(1000, a.addr, b.addr, 1, 2, IPPROTO_UDP, world.now, books)
        books.book_sent(s)
        return s

    return world, q, skb


@pytest.fixture
def pooled_env(world_q):
    """One qdisc's env: its kptr fields registered as one, its nodes' records reused."""
    _, q, _ = world_q
    env = ProgramEnv(load_object(obj("fifo")), "Qdisc_ops")
    env.own_kptr_fields(q.storage, True)
    return env


def _call(fn, *regs):
    regs = (*regs, 0, 0, 0, 0, 0)[:5]
    return fn(None, *regs)


@pytest.mark.no_conservation_check
def test_skb_pointers_are_the_real_skbuff(env, world_q):
    _, _, make = world_q
    skb = make()
    addr = env.skb_address(skb)
    assert env.skb_address(skb) == addr  # one handle per skb
    assert env.skb_at(addr) is skb
    assert env.memory.load(addr + 72, 4) == skb.len == 1000  # sk_buff.len, the offset clang used
    with pytest.raises(BpfFault, match="not a pointer to struct sk_buff"):
        env.skb_at(addr + 8)


@pytest.mark.no_conservation_check  # kfuncs driven by hand, outside the datapath's books
def test_declared_kfunc_runs_the_python_method_with_its_allow_list(env, world_q):
    _, q, make = world_q
    drop = env.kfuncs()["bpf_qdisc_skb_drop"]
    skb = make()
    env.context, env.to_free = q.ctx, q._to_free
    RUNNING.frame = q._frames["dequeue"]
    skb.owner = RUNNING.frame
    try:
        with pytest.raises(KfuncFault) as caught:
            _call(drop, env.skb_address(skb), env.to_free_addr)
        assert "sch.drop() (kfunc bpf_qdisc_skb_drop) is allowed only in enqueue" in str(
            caught.value
        )
        RUNNING.frame = frame = q._frames["enqueue"]
        skb.owner = frame
        addr = env.skb_address(skb)
        assert _call(drop, addr, env.to_free_addr) == 1  # NET_XMIT_DROP
        assert q.drops == 1 and q.drop_reasons == {"qdisc": 1}
        # A freed skb's pointer dangles: its view is unmapped.
        with pytest.raises(BpfFault, match="not a pointer"):
            env.skb_at(addr)
        with pytest.raises(BpfFault, match="not mapped"):
            env.memory.load(addr + 72, 4)
    finally:
        RUNNING.frame = None


@pytest.mark.no_conservation_check
def test_kptr_xchg_moves_ownership_as_a_python_node(env, world_q):
    _, q, make = world_q
    helpers = env.helpers()
    kfuncs = env.kfuncs()
    skb = make()
    RUNNING.frame = frame = q._frames["enqueue"]
    skb.owner = frame
    try:
        type_id = next(t.id for t in env.btf.types if t.name == "fifo_node")
        node = _call(kfuncs["bpf_obj_new_impl"], type_id, 0)
        xchg = helpers[194]
        assert _call(xchg, node + 24, env.skb_address(skb)) == 0
        assert skb.owner is env.kptrs[node + 24]  # held by the node, like SkbNode.kptr_xchg
        with pytest.raises(KfuncFault) as caught:
            _call(xchg, node + 24, env.skb_address(skb))  # inserting it twice
        assert isinstance(caught.value.cause, OwnershipViolation)
        with pytest.raises(KfuncFault, match="freed while holding"):
            _call(kfuncs["bpf_obj_drop_impl"], node, 0)
        assert _call(xchg, node + 24, 0) == env.skb_address(skb)
        assert skb.owner is frame and skb in frame.acquired
        _call(kfuncs["bpf_obj_drop_impl"], node, 0)
        with pytest.raises(BpfFault, match="not mapped"):
            env.memory.load(node, 8)
        q.ctx.drop(skb, q._to_free)
        frame.acquired.clear()
    finally:
        RUNNING.frame = None


def test_lists_keep_order_and_refuse_a_node_twice(env):
    kfuncs = env.kfuncs()
    type_id = next(t.id for t in env.btf.types if t.name == "fifo_node")
    nodes = [_call(kfuncs["bpf_obj_new_impl"], type_id, 0) for _ in range(3)]
    head = env.memory.map(BytesRegion("head", bytearray(16)))
    for n in nodes:
        _call(kfuncs["bpf_list_push_back_impl"], head, n)
    with pytest.raises(BpfFault, match="already in a list"):
        _call(kfuncs["bpf_list_push_back_impl"], head, nodes[0])
    assert [_call(kfuncs["bpf_list_pop_front"], head) for _ in range(4)] == [*nodes, 0]


def test_spin_lock_keeps_state(env):
    helpers = env.helpers()
    lock, unlock = helpers[93], helpers[94]
    _call(lock, 0x1000)
    with pytest.raises(BpfFault, match="already held"):
        _call(lock, 0x1000)
    _call(unlock, 0x1000)
    with pytest.raises(BpfFault, match="not held"):
        _call(unlock, 0x1000)


def test_numbers_iterator_counts_start_to_end(env):
    kfuncs = env.kfuncs()
    it = env.memory.frame_pointer(0) - 8
    assert _call(kfuncs["bpf_iter_num_new"], it, 2, 5) == 0
    seen = []
    while (p := _call(kfuncs["bpf_iter_num_next"], it)) != 0:
        seen.append(env.memory.load(p, 4))
    assert seen == [2, 3, 4]
    assert _call(kfuncs["bpf_iter_num_new"], it, 5, 2) != 0  # -EINVAL: an empty range
    assert _call(kfuncs["bpf_iter_num_next"], it) == 0


def test_map_helpers_keep_bytes_values_at_stable_addresses(env):
    import errno

    from qdisclab.ops.maps import HashMap

    flows = HashMap(2, key_size=4, value_size=8, name="flows")
    handle = 0x5000_0000_0000
    env.map_at = {handle: flows}.__getitem__
    # fifo.bpf.o calls no map helper: bind them as an object calling them would be.
    from qdisclab.bpf.kfunc_binding import _GENERIC, _bound

    lookup, update, delete = (
        _bound(_GENERIC[f"bpf_map_{op}_elem"], env) for op in ("lookup", "update", "delete")
    )
    scratch = env.memory.map(BytesRegion("scratch", bytearray(32)))
    key, value = scratch, scratch + 8
    env.memory.store(key, 4, 7)
    env.memory.store(value, 8, 0x1122)
    assert _call(lookup, handle, key) == 0
    assert _call(update, handle, key, value, 0) == 0
    addr = _call(lookup, handle, key)
    assert env.memory.load(addr, 8) == 0x1122
    env.memory.store(value, 8, 0x3344)
    assert _call(update, handle, key, value, 0) == 0
    assert _call(lookup, handle, key) == addr and env.memory.load(addr, 8) == 0x3344
    assert _call(update, handle, key, value, 1) == -errno.EEXIST & 0xFFFF_FFFF_FFFF_FFFF
    assert _call(delete, handle, key) == 0
    assert _call(delete, handle, key) == -errno.ENOENT & 0xFFFF_FFFF_FFFF_FFFF
    with pytest.raises(BpfFault, match="not mapped"):
        env.memory.load(addr, 8)


@pytest.mark.no_conservation_check
def test_a_qdiscs_kptr_fields_are_one_collection_of_its_storage(env, world_q):
    _, q, make = world_q
    env.own_kptr_fields(q.storage, checked=True)
    helpers, kfuncs = env.helpers(), env.kfuncs()
    type_id = next(t.id for t in env.btf.types if t.name == "fifo_node")
    RUNNING.frame = frame = q._frames["enqueue"]
    try:
        nodes = [_call(kfuncs["bpf_obj_new_impl"], type_id, 0) for _ in range(3)]
        skb = make()
        skb.owner = frame
        assert _call(helpers[194], nodes[1] + 24, env.skb_address(skb)) == 0
        registered = list(q.storage)
        assert registered.count(env.kptr_fields) == 1 and len(registered) == len(set(registered))
        assert env.kptr_fields.held() == [skb] and skb.owner is env.kptrs[nodes[1] + 24]
        _call(kfuncs["bpf_obj_drop_impl"], nodes[0], 0)  # an empty node leaves its table only
        q.storage.sweep()
        assert env.kptr_fields in list(q.storage)  # kept while empty of skbs, too
        assert q.storage.release_all() == [skb]  # what containment frees
        assert not env.kptr_fields and env.kptrs[nodes[1] + 24].skb is None
    finally:
        frame.acquired.clear()
        RUNNING.frame = None


@pytest.mark.no_conservation_check
def test_a_dropped_node_is_reused_zeroed_at_a_new_address(world_q):
    _, q, _ = world_q
    env = ProgramEnv(load_object(obj("fifo")), "Qdisc_ops")
    env.own_kptr_fields(q.storage, True)  # one qdisc's env: its nodes' records are reused
    kfuncs, xchg = env.kfuncs(), env.helpers()[194]
    new, drop = kfuncs["bpf_obj_new_impl"], kfuncs["bpf_obj_drop_impl"]
    type_id = next(t.id for t in env.btf.types if t.name == "fifo_node")
    first = _call(new, type_id, 0)
    record = env.objects[first >> 32]  # by region id
    env.memory.store(first + 8, 8, 0xABCD)  # bytes the next user must not see
    _call(drop, first, 0)
    second = _call(new, type_id, 0)
    assert env.objects[second >> 32] is record and second != first
    assert env.memory.load(second + 8, 8) == 0  # zeroed, as bpf_obj_new's memory is
    assert list(env.kptrs) == [second + 24]
    # The dropped node's pointer names nothing, though its record serves again.
    with pytest.raises(BpfFault, match="not mapped"):
        env.memory.load(first + 8, 8)
    with pytest.raises(BpfFault, match="not a __kptr field of an object"):
        _call(xchg, first + 24, 0)
    with pytest.raises(BpfFault, match="not an object from bpf_obj_new"):
        _call(drop, first, 0)
    # No region entry of its own: the record gives the region, faults name it as before.
    assert second >> 32 not in env.memory.regions
    with pytest.raises(
        BpfFault, match="out-of-bounds read of 8 bytes at offset 32 of object fifo_node"
    ):
        env.memory.load(second + 32, 8)
    assert env.memory.region_at(second + 8) == (record.region, 8)


@pytest.mark.no_conservation_check
def test_a_pooled_nodes_bytes_are_mapped_in_place_once_a_program_touches_them(pooled_env):
    env = pooled_env
    kfuncs = env.kfuncs()
    new, drop = kfuncs["bpf_obj_new_impl"], kfuncs["bpf_obj_drop_impl"]
    type_id = next(t.id for t in env.btf.types if t.name == "fifo_node")
    fast = env.memory.readable, env.memory.writable
    first = _call(new, type_id, 0)
    record = env.objects[first >> 32]
    # Reached only through kfuncs (a FIFO's node): no table of the memory holds it.
    assert all(first >> 32 not in table for table in fast) and not record.mapped
    _call(drop, first, 0)
    assert record.base == record.field == -1  # a dropped record matches no address
    second = _call(new, type_id, 0)
    env.memory.store(second + 8, 8, 7)  # the first access in place maps the bytes...
    assert all(table[second >> 32] is record.data for table in fast) and record.mapped
    assert env.memory.load(second + 8, 8) == 7
    _call(drop, second, 0)  # ... until the node is dropped
    assert all(second >> 32 not in table for table in fast) and not record.mapped
    with pytest.raises(BpfFault, match="not mapped"):
        env.memory.load(second + 8, 8)
    third = _call(new, type_id, 0)  # its layout's nodes are now mapped when made
    assert all(table[third >> 32] is record.data for table in fast) and record.mapped


@pytest.mark.parametrize("engine", ["interp", "translate"])
def test_spin_lock_twice_and_unlock_of_an_unheld_lock_fault_at_the_call(env, engine):
    from qdisclab.bpf.asm import assemble
    from qdisclab.bpf.interp import Interpreter
    from qdisclab.bpf.resolver import TableResolver
    from qdisclab.bpf.translate import Translated

    helpers = env.helpers()  # bpf_spin_lock (93) and bpf_spin_unlock (94), bound as the FIFO's
    resolver = TableResolver(helpers={93: helpers[93], 94: helpers[94]})
    engines = {"interp": Interpreter, "translate": Translated}
    lock = env.memory.map(BytesRegion("lock", bytearray(8)))

    def run(text: str) -> None:
        engines[engine](assemble(text, name="locks"), resolver, env.memory).run(lock)

    both = "r6 = r1\ncall 93\nr1 = r6\ncall 94\nr1 = r6\ncall 93\nr1 = r6\ncall 94\nr0 = 0\nexit"
    run(both)  # taken and released twice: nothing is left held
    assert not env.locks
    with pytest.raises(BpfFault, match=r"insn 3: bpf_spin_lock of .*already held \(deadlock\)"):
        run("r6 = r1\ncall 93\nr1 = r6\ncall 93\nr0 = 0\nexit")
    env.locks.clear()
    with pytest.raises(BpfFault, match=r"insn 5: bpf_spin_unlock of .*which is not held"):
        run("r6 = r1\ncall 93\nr1 = r6\ncall 94\nr1 = r6\ncall 94\nr0 = 0\nexit")
    with pytest.raises(BpfFault, match=r"insn 1: bpf_spin_unlock of .*which is not held"):
        run("r1 = r1\ncall 94\nr0 = 0\nexit")


def _programs(env: ProgramEnv, engine: str, *kfuncs: str):
    """How to run assembly calling ``kfuncs`` of ``env`` on ``engine``, and the node's type id."""
    from qdisclab.bpf.asm import assemble
    from qdisclab.bpf.interp import Interpreter
    from qdisclab.bpf.resolver import TableResolver
    from qdisclab.bpf.translate import Translated

    bound = env.kfuncs()
    resolver = TableResolver(kfuncs={n: bound[n] for n in kfuncs})
    make = {"interp": Interpreter, "translate": Translated}[engine]

    def program(text: str, name: str):
        return make(assemble(text, name=name), resolver, env.memory)

    return program, next(t.id for t in env.btf.types if t.name == "fifo_node")


@pytest.mark.no_conservation_check
@pytest.mark.parametrize("engine", ["interp", "translate"])
def test_a_reused_node_is_zeroed_however_the_program_left_it(pooled_env, engine):
    env = pooled_env
    program, type_id = _programs(env, engine, "bpf_obj_new_impl", "bpf_obj_drop_impl")
    # new, write a non-zero word, drop; new again (the dropped record, in place when
    # translated), read the word back, drop.
    text = f"""
        r1 = {type_id}
        r2 = 0
        call bpf_obj_new_impl
        r6 = r0
        r1 = 0xab
        *(u64 *)(r6 + 8) = r1
        r1 = r6
        r2 = 0
        call bpf_obj_drop_impl
        r1 = {type_id}
        r2 = 0
        call bpf_obj_new_impl
        r7 = r0
        r8 = *(u64 *)(r7 + 8)
        r1 = r7
        r2 = 0
        call bpf_obj_drop_impl
        r0 = r8
        exit
    """
    prog = program(text, "reuse")
    assert [prog.run() for _ in range(3)] == [0, 0, 0]
    assert not env.objects and len(env.node_layouts[type_id].spare) == 1


@pytest.mark.no_conservation_check
@pytest.mark.parametrize("engine", ["interp", "translate"])
def test_a_dropped_node_kept_in_hand_by_the_translated_kfuncs_matches_no_address(
    pooled_env, engine
):
    env = pooled_env
    names = ("bpf_obj_new_impl", "bpf_obj_drop_impl", "bpf_list_push_back_impl")
    program, type_id = _programs(env, engine, *names)
    head = env.memory.map(BytesRegion("head", bytearray(16)))
    new = f"r1 = {type_id}\nr2 = 0\ncall bpf_obj_new_impl\n"

    def run(text: str) -> None:
        program(text, "stale").run(head)

    # The translated drop finds the node it is given as the one the last call made;
    # dropped, that node is no object any more, for the drop as for the push.
    with pytest.raises(BpfFault, match=r"insn 9: bpf_obj_drop of 0x\w+: not an object"):
        run(f"{new}r6 = r0\nr1 = r6\nr2 = 0\ncall bpf_obj_drop_impl\n"
            "r1 = r6\nr2 = 0\ncall bpf_obj_drop_impl\nr0 = 0\nexit")  # fmt: skip
    with pytest.raises(BpfFault, match=r"insn 21: list push of 0x\w+: not a node of an object"):
        run(f"r9 = r1\n{new}r6 = r0\n{new}r7 = r0\n"  # a second node, pushed: the list exists
            "r1 = r9\nr2 = r7\nr3 = 0\nr4 = 0\ncall bpf_list_push_back_impl\n"
            "r1 = r6\nr2 = 0\ncall bpf_obj_drop_impl\n"
            "r1 = r9\nr2 = r6\nr3 = 0\nr4 = 0\ncall bpf_list_push_back_impl\nr0 = 0\nexit")  # fmt: skip
    assert list(env.lists[head]) == [env.objects[next(iter(env.objects))].base]


@pytest.mark.no_conservation_check
@pytest.mark.parametrize("engine", ["interp", "translate"])
@pytest.mark.parametrize("link_off", [0, 8])  # the record notes it; the env's set does
def test_a_node_in_a_list_is_refused_until_popped_wherever_it_lies(env, engine, link_off):
    names = ("bpf_obj_new_impl", "bpf_list_push_back_impl", "bpf_list_pop_front")
    program, type_id = _programs(env, engine, *names)
    kfuncs = env.kfuncs()
    head = env.memory.map(BytesRegion("head", bytearray(16)))
    push = "r1 = r9\nr2 = r6\nr3 = 0\nr4 = 0\ncall bpf_list_push_back_impl\n"
    # Two nodes pushed (the first push makes the list), the first popped and pushed
    # again, then the second pushed a second time while still in the list.
    new = f"r1 = {type_id}\nr2 = 0\ncall bpf_obj_new_impl\nr6 = r0\nr6 += {link_off}\n"
    text = (
        f"r9 = r1\n{new}{push}{new}r8 = r6\n{push}"
        f"r1 = r9\ncall bpf_list_pop_front\nr6 = r0\n{push}r6 = r8\n{push}r0 = 0\nexit"
    )
    prog = program(text, "twice")
    with pytest.raises(BpfFault, match=r"insn 35: list push of node 0x\w+, which is already"):
        prog.run(head)
    second, first = env.lists[head]
    assert (first - link_off) & 0xFFFF_FFFF == (second - link_off) & 0xFFFF_FFFF == 0
    assert env.in_list(first) and env.in_list(second) and not env.in_list(first + 8)
    pops = [_call(kfuncs["bpf_list_pop_front"], head) for _ in range(3)]
    assert pops == [second, first, 0]
    assert not env.in_list(first) and not env.in_list(second) and not env.listed
