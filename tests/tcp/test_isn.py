"""Initial sequence numbers: seeded per connection (RFC 6528), 32-bit on the wire, and
invisible to everything the socket counts (bytes, retransmissions, timings)."""

import io

import dpkt
from hypothesis import given
from hypothesis import strategies as st
from tests.tcp.helpers import two_hosts

from qdisclab.cli import main
from qdisclab.measure.pcap import PcapWriter, attach_tap, detach_tap
from qdisclab.tcp import TcpStack
from qdisclab.tcp.header import SEQ_MASK, seq_unwrap

MSS = 1448


def _tcp_headers(raw: bytes) -> list:
    return [dpkt.ip.IP(buf).data for _ts, buf in dpkt.pcap.Reader(io.BytesIO(raw))]


def transfer(seed=1, isn=None, nbytes=200 * MSS, loss=0.0):
    """A→B bulk transfer, both directions captured; returns the sockets and both pcaps."""
    w, a, b = two_hosts(seed=seed, loss=loss)
    caps = {"A": io.BytesIO(), "B": io.BytesIO()}
    for node in (a, b):
        attach_tap(node.devices["eth0"], PcapWriter(caps[node.name]))
    lst = TcpStack.of(b).listen(80)
    sk = TcpStack.of(a).connect(b.addr, 80, "f1", cc="cubic", isn=isn)
    sk.send(nbytes)
    w.run(20_000_000_000)
    for node in (a, b):
        detach_tap(node.devices["eth0"])
    return sk, lst.accepted[0], caps["A"].getvalue(), caps["B"].getvalue()


def test_seed_changes_both_isns_and_the_same_seed_repeats_every_header():
    isns = {}
    for seed in (1, 2, 1):
        sk, peer, cap_a, cap_b = transfer(seed=seed)
        syn, synack = _tcp_headers(cap_a)[0], _tcp_headers(cap_b)[0]
        assert syn.flags & dpkt.tcp.TH_SYN and synack.flags & dpkt.tcp.TH_SYN
        assert (syn.seq, synack.seq) == (sk.snd_isn, peer.snd_isn)
        if seed in isns:
            assert isns[seed][0] == (syn.seq, synack.seq)
            assert isns[seed][1] == (cap_a, cap_b)  # byte-identical captures
        isns[seed] = ((syn.seq, synack.seq), (cap_a, cap_b))
    assert isns[1][0][0] != isns[2][0][0] and isns[1][0][1] != isns[2][0][1]
    assert isns[1][0][0] != isns[1][0][1]  # the two directions are keyed apart


def test_wire_fields_carry_the_isn_while_the_socket_counts_from_zero():
    nbytes = 50 * MSS
    sk, peer, cap_a, cap_b = transfer(seed=3, nbytes=nbytes)
    a_hdrs, b_hdrs = _tcp_headers(cap_a), _tcp_headers(cap_b)
    isn_a, isn_b = sk.snd_isn, peer.snd_isn
    assert b_hdrs[0].ack == (isn_a + 1) & SEQ_MASK  # the SYN-ACK acknowledges the SYN
    first_data = next(h for h in a_hdrs if len(h.data) > 0)
    assert first_data.seq == (isn_a + 1) & SEQ_MASK and first_data.ack == (isn_b + 1) & SEQ_MASK
    assert max((h.ack - isn_a) & SEQ_MASK for h in b_hdrs) == 1 + nbytes
    assert sk.snd_una == 1 + nbytes and peer.bytes_received == nbytes


def test_isn_just_below_2_32_wraps_and_changes_no_result():
    """Loss makes SACK blocks and retransmissions straddle the wrap; the outcome is the same
    as from ISN 0, segment for segment, because only the wire fields differ."""
    nbytes = 2000 * MSS
    runs = {
        isn: transfer(seed=5, isn=isn, nbytes=nbytes, loss=0.02) for isn in (0, SEQ_MASK - 3 * MSS)
    }
    (sk0, peer0, cap0, _), (skw, peerw, capw, _capw_b) = runs.values()
    assert peer0.bytes_received == peerw.bytes_received == nbytes
    assert skw.stats.retrans > 0
    for field in ("segs_out", "retrans", "dsack"):
        assert getattr(skw.stats, field) == getattr(sk0.stats, field), field
    assert (skw.delivered, skw.bytes_acked, skw.snd_una) == (
        sk0.delivered,
        sk0.bytes_acked,
        sk0.snd_una,
    )
    seqs = [h.seq for h in _tcp_headers(capw) if len(h.data)]
    assert max(seqs) > SEQ_MASK - 3 * MSS and min(seqs) < 10 * MSS  # it did wrap
    assert len(_tcp_headers(cap0)) == len(_tcp_headers(capw))


@given(
    isn=st.integers(0, SEQ_MASK),
    near=st.integers(0, 1 << 40),
    delta=st.integers(-(1 << 31), (1 << 31) - 1),
)
def test_unwrap_recovers_any_sequence_within_half_the_space(isn, near, delta):
    rel = near + delta
    assert seq_unwrap((rel + isn) & SEQ_MASK, isn, near) == rel


def test_dumbbell_pcap_isns_follow_the_run_seed(tmp_path):
    syns = {}
    for run, seed in (("a", 1), ("b", 2), ("c", 1)):
        out = tmp_path / run
        args = ["run", "dumbbell", "--duration", "50ms", "--seed", str(seed), "--out", str(out),
                "--no-plots", "--set", 'run.record.pcap=["R1:eth0"]']  # fmt: skip
        assert main(args) == 0
        hdrs = _tcp_headers((out / "R1-eth0.pcap").read_bytes())
        syns[run] = sorted((h.sport, h.seq) for h in hdrs if h.flags & dpkt.tcp.TH_SYN)
        assert syns[run]
    assert syns["a"] == syns["c"]
    assert {s for _p, s in syns["a"]}.isdisjoint(s for _p, s in syns["b"])
