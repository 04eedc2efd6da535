"""TCP flows in scenarios: goodput, FCT, request/response, mss, stop, user congestion control."""

import json

import tomli_w

from qdisclab.cli import main
from qdisclab.scenario.build import run_loaded
from qdisclab.scenario.loader import load_text

# A - R - B: 1 gbit / 0.5 ms access, 100 mbit / 5 ms bottleneck, pfifo 1000 (no loss for
# one flow over these short runs). Base RTT 2 x (0.5 + 5) ms = 11 ms.
BASE = {
    "run": {"duration": "2s", "window": ["1s", "2s"]},
    "node": [{"name": "A"}, {"name": "R", "kind": "router"}, {"name": "B"}],
    "link": [
        {"a": "A", "b": "R", "rate": "1gbit", "delay": "0.5ms"},
        {"a": "R", "b": "B", "rate": "100mbit", "delay": "5ms", "name": "bottleneck"},
    ],
    "flow": [],
}


def run(flows, **run_keys):
    raw = json.loads(json.dumps(BASE))
    raw["flow"] = flows
    raw["run"].update(run_keys)
    return run_loaded(load_text(tomli_w.dumps(raw), "t.toml"))


def test_bulk_fills_the_bottleneck_without_loss():
    res = run([{"type": "tcp-bulk", "src": "A", "dst": "B", "cc": "cubic"}])
    (tcp,) = res["tcp"]
    # 100 mbit of 1514 B Ethernet frames carry 1448 B of payload each: 95.64 mbit of goodput
    # (0.1 of slack for the packets the measurement window cuts through).
    assert 94 < tcp["goodput_mbps"] <= 100 * 1448 / 1514 + 0.1
    assert tcp["retrans"] == 0 and tcp["rto"] == 0
    assert tcp["rtt_ms"]["p50"] > 11  # base RTT plus the standing queue
    row = next(f for f in res["flows"] if f["flow"] == "A->B")
    assert row["throughput_mbps"] == tcp["goodput_mbps"]
    assert res["summary"]["throughput_mbps_total"] == tcp["goodput_mbps"]
    assert len(res["cwnd_series"]["A->B"]) > 10


def test_transfer_reports_flow_completion_time():
    res = run([{"type": "tcp-transfer", "src": "A", "dst": "B", "bytes": 1_000_000,
                "start": "100ms"}])  # fmt: skip
    (tcp,) = res["tcp"]
    assert tcp["bytes_received"] == 1_000_000
    # at least: handshake (1 RTT) + 1 MB at 96.5 mbit (83 ms) + slow start from IW10 (~6 RTTs)
    assert 11 + 83 < tcp["fct_ms"] < 300
    assert res["summary"]["fct_ms_mean"] == tcp["fct_ms"]


def test_request_response_counts_transactions():
    res = run([{"type": "tcp-rr", "src": "A", "dst": "B", "request": 100, "response": 1000,
                "count": 20}])  # fmt: skip
    (tcp,) = res["tcp"]
    assert tcp["transactions"] == 20
    # one round trip per transaction (11 ms), plus serialization: well under two
    assert 11 <= tcp["latency_ms"]["p50"] < 22


def test_mss_sets_the_segment_size(tmp_path):
    import dpkt

    raw = json.loads(json.dumps(BASE))
    raw["flow"] = [{"type": "tcp-bulk", "src": "A", "dst": "B", "mss": 1000}]
    raw["run"].update(duration="200ms", record={"pcap": ["R:eth1"]})
    run_loaded(load_text(tomli_w.dumps(raw), "t.toml"), out_dir=tmp_path)
    with open(tmp_path / "R-eth1.pcap", "rb") as f:
        sizes = [dpkt.ip.IP(buf).len for _ts, buf in dpkt.pcap.Reader(f)]
    # 1000 B payload + 52 B of IP/TCP headers with timestamps; nothing larger
    assert max(sizes) == 1052 and sizes.count(1052) > 100


def test_stop_ends_a_bulk_flow():
    res = run([{"type": "tcp-bulk", "src": "A", "dst": "B", "stop": "500ms"}])
    (tcp,) = res["tcp"]
    assert tcp["bytes_received"] > 1_000_000
    assert tcp["goodput_mbps"] == 0  # nothing after 0.5 s, window is 1-2 s
    assert res["conservation"]["in_flight"] == 0


def test_unknown_cc_is_one_line_listing_the_allowed(tmp_path, capsys):
    raw = json.loads(json.dumps(BASE))
    raw["flow"] = [{"type": "tcp-bulk", "src": "A", "dst": "B", "cc": "vegas"}]
    (tmp_path / "s.toml").write_text(tomli_w.dumps(raw))
    assert main(["run", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "flow[0].cc: found 'vegas'; allowed: bbr, cubic, dctcp, reno" in err
    assert len(err.splitlines()) == 1


USER_CC = '''
from qdisclab.tcp.congestion import CongestionOps


class HalfWindow(CongestionOps):
    """+1 segment per RTT; halve on loss."""

    name = "half_test"

    def ssthresh(self, sk):
        return max(sk.snd_cwnd // 2, 2)

    def cong_avoid(self, sk, ack, acked):
        if sk.snd_cwnd < sk.snd_ssthresh:
            sk.snd_cwnd += acked
        else:
            sk.snd_cwnd_cnt += acked
            if sk.snd_cwnd_cnt >= sk.snd_cwnd:
                sk.snd_cwnd_cnt = 0
                sk.snd_cwnd += 1

    def undo_cwnd(self, sk):
        return sk.snd_cwnd
'''


def test_user_congestion_control_from_an_extension(tmp_path):
    (tmp_path / "my_cc.py").write_text(USER_CC)
    raw = json.loads(json.dumps(BASE))
    raw["extension"] = [{"class": "my_cc.py:HalfWindow"}]
    raw["flow"] = [{"type": "tcp-bulk", "src": "A", "dst": "B", "cc": "half_test"}]
    raw["run"]["duration"] = "500ms"
    (tmp_path / "s.toml").write_text(tomli_w.dumps(raw))
    out = tmp_path / "out"
    for _ in range(2):  # loading the same file twice in one process is fine
        assert main(["run", str(tmp_path / "s.toml"), "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["tcp"][0]["cc"] == "half_test"
    assert (out / "cwnd.png").stat().st_size > 5000
    rows = (out / "cwnd.csv").read_text().splitlines()
    assert rows[0] == "flow,time_s,cwnd,ssthresh,srtt_ms,pacing_mbps"
    assert len(rows) > 10 and rows[1].startswith("A->B,")
