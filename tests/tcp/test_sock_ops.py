"""sock_ops as struct_ops: registration errnos, mprog ordering on a cgroup, legacy equivalence."""

from __future__ import annotations

import errno

import pytest

import qdisclab.tcp.sock_ops as so
import qdisclab.tcp.sock_ops_legacy as leg
from qdisclab.errors import KernelError
from qdisclab.tcp.cgroup import Cgroup

from .fake_sock import FakeSock

TcpOps = so.TcpOps


def errno_of(fn, *a, **kw):
    with pytest.raises(KernelError) as exc:
        fn(*a, **kw)
    return exc.value.errno


# -- registration ------------------------------------------------------------------


def test_register_needs_at_least_one_callback():
    class Empty(TcpOps):
        id = "empty_ops"

    assert errno_of(so.register_tcp_ops, Empty) == errno.EINVAL


def test_register_unknown_member_einval():
    class Typo(TcpOps):
        id = "typo_ops"

        def rtt(self, sk, rtt_us):
            pass

        def on_connect(self, sk):
            pass

    assert errno_of(so.register_tcp_ops, Typo) == errno.EINVAL


@pytest.mark.parametrize("bad", ["", "a" * 16, "has space", "dash-name"])
def test_register_name_rules(bad):
    cls = type("Named", (TcpOps,), {"id": bad, "rtt": lambda self, sk, r: None})
    assert errno_of(so.register_tcp_ops, cls) == errno.EINVAL


def test_register_duplicate_eexist_and_unregister():
    class A(TcpOps):
        id = "dup_ops"

        def rtt(self, sk, rtt_us):
            pass

    class B(TcpOps):
        id = "dup_ops"

        def connect(self, sk):
            pass

    so.register_tcp_ops(A)
    try:
        assert errno_of(so.register_tcp_ops, B) == errno.EEXIST
        assert errno_of(so.register_tcp_ops, A) == errno.EEXIST
    finally:
        so.unregister_tcp_ops("dup_ops")
    so.register_tcp_ops(B)
    so.unregister_tcp_ops("dup_ops")


def test_not_a_tcp_ops_subclass():
    class Other:
        id = "other"

        def rtt(self, sk, r):
            pass

    assert errno_of(so.register_tcp_ops, Other) == errno.EINVAL


# -- ordering on a cgroup ----------------------------------------------------------


class Recorder(TcpOps):
    id = "recorder"

    def __init__(self, tag, log, rto=None):
        self.tag, self.log, self.rto_ms = tag, log, rto

    def timeout_init(self, sk):
        self.log.append(self.tag)
        return self.rto_ms

    def rtt(self, sk, rtt_us):
        self.log.append((self.tag, rtt_us))


def test_callback_order_follows_mprog_before_after():
    cg = Cgroup().child("app")
    log = []
    a, b, c, d = (Recorder(t, log) for t in "abcd")
    cg.tcp_ops.attach(a)
    cg.tcp_ops.attach(b, before=a)  # b a
    cg.tcp_ops.attach(c, after=a)  # b a c
    cg.tcp_ops.attach(d, before=None)  # d b a c
    sk = FakeSock()
    cg.add_socket(sk)
    sk.sock_ops.event(sk, "timeout_init")
    assert log == ["d", "b", "a", "c"]
    log.clear()
    sk.sock_ops.event(sk, "rtt", 1234)
    assert log == [("d", 1234), ("b", 1234), ("a", 1234), ("c", 1234)]
    cg.tcp_ops.detach(b)
    log.clear()
    sk.sock_ops.event(sk, "timeout_init")
    assert log == ["d", "a", "c"]


def test_relative_by_program_id():
    cg = Cgroup()
    log = []
    a, b = Recorder("a", log), Recorder("b", log)
    cg.tcp_ops.attach(a)
    cg.tcp_ops.attach(b, before=cg.tcp_ops.prog_id(a))
    cg.event(FakeSock(), "timeout_init")
    assert log == ["b", "a"]


def test_revision_and_estale():
    cg = Cgroup()
    log = []
    a, b, c = (Recorder(t, log) for t in "abc")
    hook = cg.tcp_ops
    assert hook.revision == 1
    hook.attach(a, expected_revision=1)
    assert hook.revision == 2
    assert errno_of(hook.attach, b, expected_revision=1) == errno.ESTALE
    assert [o.tag for o in hook.attached] == ["a"]  # failed attach changed nothing
    hook.attach(b, expected_revision=2)
    assert errno_of(hook.detach, a, expected_revision=2) == errno.ESTALE
    hook.detach(a, expected_revision=3)
    assert hook.revision == 4
    assert errno_of(hook.attach, b) == errno.EEXIST
    assert errno_of(hook.attach, c, before=a) == errno.ENOENT  # a is gone


def test_first_non_none_answer_wins_and_all_run():
    cg = Cgroup()
    log = []
    cg.tcp_ops.attach(Recorder("none", log, rto=None))
    cg.tcp_ops.attach(Recorder("first", log, rto=250))
    cg.tcp_ops.attach(Recorder("second", log, rto=900))
    assert cg.event(FakeSock(), "timeout_init") == 250
    assert log == ["none", "first", "second"]  # every program still runs


def test_child_cgroup_runs_before_ancestors():
    root = Cgroup()
    child = root.child("svc")
    log = []
    root.tcp_ops.attach(Recorder("root", log, rto=1000))
    child.tcp_ops.attach(Recorder("child", log, rto=300))
    sk = FakeSock()
    child.add_socket(sk)
    assert sk.sock_ops.event(sk, "timeout_init") == 300
    assert log == ["child", "root"]
    assert child.path == "/svc" and sk.cgroup is child


def test_unimplemented_member_is_not_called_and_unknown_event():
    class OnlyRwnd(TcpOps):
        id = "only_rwnd"

        def rwnd_init(self, sk):
            return 20

    cg = Cgroup()
    cg.tcp_ops.attach(OnlyRwnd())
    sk = FakeSock()
    assert cg.event(sk, "rwnd_init") == 20
    assert cg.event(sk, "timeout_init") is None
    assert errno_of(cg.event, sk, "needs_coffee") == errno.EINVAL


# -- legacy adapter equivalence --------------------------------------------------

SCRIPT = [
    ("timeout_init",),
    ("rwnd_init",),
    ("connect",),
    ("rtt", 900),  # before established: no RTT flag yet in the legacy form
    ("active_established",),
    ("rtt", 1000),
    ("rtt", 1500),
    ("state_change", 1, 4),
    ("retransmit", 777),
    ("hdr_opt_len",),
]


def run_script(ops):
    cg = Cgroup()
    cg.tcp_ops.attach(ops)
    sk = FakeSock()
    cg.add_socket(sk)
    return [sk.sock_ops.event(sk, *ev) for ev in SCRIPT], sk


class StructForm(TcpOps):
    id = "struct_form"

    def __init__(self):
        self.seen = []
        self.established = False

    def timeout_init(self, sk):
        return 50

    def rwnd_init(self, sk):
        return 40

    def active_established(self, sk):
        self.established = True

    def rtt(self, sk, rtt_us):
        if self.established:  # the legacy form only asks for RTT once established
            self.seen.append(("rtt", rtt_us))

    def state_change(self, sk, old, new):
        self.seen.append(("state", old, new))


def make_legacy(seen, flags=leg.BPF_SOCK_OPS_RTT_CB_FLAG | leg.BPF_SOCK_OPS_STATE_CB_FLAG):
    def prog(ctx):
        op = ctx.op
        if op == leg.BPF_SOCK_OPS_TIMEOUT_INIT:
            ctx.reply = 50
        elif op == leg.BPF_SOCK_OPS_RWND_INIT:
            ctx.reply = 40
        elif op == leg.BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
            assert leg.bpf_sock_ops_cb_flags_set(ctx, flags) == 0
        elif op == leg.BPF_SOCK_OPS_RTT_CB:
            seen.append(("rtt", ctx.args[0]))
        elif op == leg.BPF_SOCK_OPS_STATE_CB:
            seen.append(("state", ctx.args[0], ctx.args[1]))
        return 1

    return leg.LegacySockOps(prog)


def test_legacy_and_struct_ops_agree():
    s = StructForm()
    replies_s, _ = run_script(s)
    seen = []
    replies_l, sk = run_script(make_legacy(seen))
    assert replies_s == replies_l
    assert replies_s[:2] == [50, 40]
    assert s.seen == seen == [("rtt", 1000), ("rtt", 1500), ("state", 1, 4)]
    assert sk.bpf_sock_ops_cb_flags == leg.BPF_SOCK_OPS_RTT_CB_FLAG | leg.BPF_SOCK_OPS_STATE_CB_FLAG


def test_legacy_without_flag_gets_no_rtt_like_struct_without_member():
    seen = []
    _, _ = run_script(make_legacy(seen, flags=leg.BPF_SOCK_OPS_STATE_CB_FLAG))
    assert seen == [("state", 1, 4)]

    class NoRtt(StructForm):
        id = "no_rtt"
        rtt = TcpOps.rtt  # member left NULL

    s = NoRtt()
    run_script(s)
    assert s.seen == seen


def test_legacy_prog_returning_zero_gives_no_answer():
    def prog(ctx):
        ctx.reply = 77
        return 0  # bit 0 clear: the run fails, TCP sees -1 -> default

    ops = leg.LegacySockOps(prog)
    sk = FakeSock()
    assert ops.timeout_init(sk) is None and ops.rwnd_init(sk) is None


def test_legacy_nonpositive_reply_means_default():
    def prog(ctx):
        ctx.reply = -1 if ctx.op == leg.BPF_SOCK_OPS_TIMEOUT_INIT else 0
        return 1

    ops = leg.LegacySockOps(prog)
    assert ops.timeout_init(FakeSock()) is None and ops.rwnd_init(FakeSock()) is None


def test_cb_flags_set_semantics():
    sk = FakeSock()
    ctx = leg.SockOpsCtx(sk, leg.BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
    assert leg.bpf_sock_ops_cb_flags_set(ctx, 0x80 | leg.BPF_SOCK_OPS_RTO_CB_FLAG) == 0x80
    assert sk.bpf_sock_ops_cb_flags == leg.BPF_SOCK_OPS_RTO_CB_FLAG  # replaced, masked
    assert leg.bpf_sock_ops_cb_flags_set(ctx, 0) == 0 and sk.bpf_sock_ops_cb_flags == 0
    tctx = leg.SockOpsCtx(sk, leg.BPF_SOCK_OPS_TSTAMP_SND_SW_CB)
    assert leg.bpf_sock_ops_cb_flags_set(tctx, 1) == -errno.EOPNOTSUPP
    assert leg.bpf_sock_ops_cb_flags_set(leg.SockOpsCtx(None, 4), 1) == -errno.EINVAL


def test_hdr_opt_len_reserve_rules_and_equivalence():
    def prog(ctx):
        if ctx.op == leg.BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
            leg.bpf_sock_ops_cb_flags_set(ctx, leg.BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG)
        elif ctx.op == leg.BPF_SOCK_OPS_HDR_OPT_LEN_CB:
            assert leg.bpf_reserve_hdr_opt(ctx, 1) == -errno.EINVAL
            assert leg.bpf_reserve_hdr_opt(ctx, 4, 1) == -errno.EINVAL
            assert leg.bpf_reserve_hdr_opt(ctx, 41) == -errno.ENOSPC
            assert leg.bpf_reserve_hdr_opt(ctx, 4) == 0
            assert leg.bpf_reserve_hdr_opt(ctx, 6) == 0  # accumulates
        elif ctx.op == leg.BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
            assert leg.bpf_reserve_hdr_opt(ctx, 4) == -errno.EPERM
        return 1

    ops = leg.LegacySockOps(prog)
    sk = FakeSock()
    assert ops.hdr_opt_len(sk) is None  # flag not set yet
    ops.active_established(sk)
    assert ops.hdr_opt_len(sk) == 10
    ops.write_hdr_opt(sk, object())

    class Struct(TcpOps):
        id = "opt_struct"

        def hdr_opt_len(self, sk):
            return 10

    assert Struct().hdr_opt_len(sk) == 10


def test_legacy_ctx_reads_tcp_fields_and_reply_aliases_args():
    sk = FakeSock(snd_cwnd=33, srtt_us=8000)
    ctx = leg.SockOpsCtx(sk, leg.BPF_SOCK_OPS_RTT_CB, (500, 8000))
    assert (ctx.snd_cwnd, ctx.srtt_us, ctx.reply) == (33, 8000, 500)
    assert leg.SockOpsCtx(None, 1).snd_cwnd == 0


# -- end to end with the real TCP stack --------------------------------------------


def _real_transfer(cg_client, cg_server, nbytes=300_000, loss=0.01):
    """One client->server transfer over 100 mbit / 5 ms with data-direction loss."""
    from tests.tcp.helpers import two_hosts

    from qdisclab.tcp import TcpStack

    w, a, b = two_hosts(delay="5ms", loss=loss)
    lst = TcpStack.of(b).listen(80, cc="reno", sock_ops=cg_server)
    sk = TcpStack.of(a).connect(b.addr, 80, "c", cc="reno", sock_ops=cg_client)
    rto_at_syn = sk.rto
    sk.send(nbytes)
    sk.close()
    w.run(3_000_000_000)
    return sk, lst.accepted[0], rto_at_syn


class Tagged(TcpOps):
    id = "tagged"

    def __init__(self, tag, log, rto_ms=None):
        self.tag, self.log, self.rto_ms = tag, log, rto_ms

    def timeout_init(self, sk):
        self.log.append(("timeout_init", self.tag))
        return self.rto_ms

    def connect(self, sk):
        self.log.append(("connect", self.tag))

    def active_established(self, sk):
        self.log.append(("active_established", self.tag))

    def rtt(self, sk, rtt_us):
        self.log.append(("rtt", self.tag))

    def retransmit(self, sk, seq):
        self.log.append(("retransmit", self.tag))

    def state_change(self, sk, old, new):
        self.log.append(("state_change", self.tag))


def test_end_to_end_real_tcp_runs_attached_ops_in_mprog_order():
    cg = Cgroup().child("client")
    log = []
    a = Tagged("a", log, rto_ms=None)
    b = Tagged("b", log, rto_ms=300)
    c = Tagged("c", log, rto_ms=1500)
    d = Tagged("d", log)
    cg.tcp_ops.attach(a)
    cg.tcp_ops.attach(b, before=a)  # b a
    cg.tcp_ops.attach(c, after=a)  # b a c
    cg.tcp_ops.attach(d, before=None)  # d b a c
    sk, rx, rto_at_syn = _real_transfer(cg, None)
    assert sk.cgroup is cg and rx.cgroup is None
    assert rx.bytes_received == 300_000
    assert rto_at_syn == 300_000_000  # b answers first among the non-None answers
    events = {}
    for name, tag in log:
        events.setdefault(name, []).append(tag)
    for name in ("timeout_init", "connect", "active_established", "rtt", "retransmit",
                 "state_change"):  # fmt: skip
        tags = events[name]
        assert len(tags) % 4 == 0 and len(tags) >= 4, name
        # Every event ran all four, each time in the order d b a c.
        assert tags == ["d", "b", "a", "c"] * (len(tags) // 4), name


class StructPolicy(TcpOps):
    id = "struct_policy"

    def __init__(self, rtts):
        self.rtts = rtts

    def timeout_init(self, sk):
        return 250

    def rwnd_init(self, sk):
        return 20

    def rtt(self, sk, rtt_us):
        self.rtts.append((sk.name, rtt_us))

    def retransmit(self, sk, seq):
        self.rtts.append((sk.name, "rtx", seq))


def legacy_policy(rtts):
    def prog(ctx):
        op = ctx.op
        if op == leg.BPF_SOCK_OPS_TIMEOUT_INIT:
            ctx.reply = 250
        elif op == leg.BPF_SOCK_OPS_RWND_INIT:
            ctx.reply = 20
        elif op == leg.BPF_SOCK_OPS_TCP_CONNECT_CB:
            # Opt in before any RTT sample or retransmission can happen.
            leg.bpf_sock_ops_cb_flags_set(
                ctx, leg.BPF_SOCK_OPS_RTT_CB_FLAG | leg.BPF_SOCK_OPS_RETRANS_CB_FLAG
            )
        elif op in (
            leg.BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB,
            leg.BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB,
        ):
            leg.bpf_sock_ops_cb_flags_set(
                ctx, leg.BPF_SOCK_OPS_RTT_CB_FLAG | leg.BPF_SOCK_OPS_RETRANS_CB_FLAG
            )
        elif op == leg.BPF_SOCK_OPS_RTT_CB:
            rtts.append((ctx.sk.name, ctx.args[0]))
        elif op == leg.BPF_SOCK_OPS_RETRANS_CB:
            rtts.append((ctx.sk.name, "rtx", ctx.args[0]))
        return 1

    return leg.LegacySockOps(prog)


def test_legacy_adapter_and_struct_ops_behave_the_same_on_real_tcp():
    results = []
    for make in (StructPolicy, legacy_policy):
        cli, srv = Cgroup().child("cli"), Cgroup().child("srv")
        seen = []
        cli.tcp_ops.attach(make(seen))
        srv.tcp_ops.attach(make(seen))
        sk, rx, rto_at_syn = _real_transfer(cli, srv)
        results.append((rto_at_syn, sk.rcv_wnd, rx.rcv_wnd, rx.bytes_received,
                        sk.max_packets_out, sk.stats.retrans, seen))  # fmt: skip
    (rto, cwnd_c, cwnd_s, got, pipe, retrans, seen), other = results
    assert results[0] == other
    assert rto == 250_000_000
    assert cwnd_c == cwnd_s == 20 * 1448  # rwnd_init on both ends
    assert got == 300_000 and retrans > 0
    assert sum(1 for e in seen if e[1] == "rtx") == retrans
    assert sum(1 for e in seen if e[1] != "rtx") > 50
    # The 20-packet receive window caps the sender's pipe; without the policy it is wider.
    assert pipe <= 20
    sk, _rx, _ = _real_transfer(None, None, loss=0.0)
    assert sk.max_packets_out > 40


def test_legacy_rto_cb_gets_retransmits_and_rto_in_jiffies():
    seen = []

    def prog(ctx):
        if ctx.op == leg.BPF_SOCK_OPS_RTO_CB:
            seen.append(list(ctx.args))
        return 1

    ops = leg.LegacySockOps(prog)
    sk = FakeSock(icsk_backoff=2, rto=800_000_000)
    ops.rto(sk)
    assert seen == []  # the program has not opted into RTO_CB
    sk.bpf_sock_ops_cb_flags = leg.BPF_SOCK_OPS_RTO_CB_FLAG
    ops.rto(sk)
    # BPF_SOCK_OPS_RTO_CB: icsk_retransmits, icsk_rto (jiffies at HZ=1000), expired
    assert seen == [[2, 800, 0, 0]]
