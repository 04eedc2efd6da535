"""--out: CSVs, tc stats, a pcap tcpdump and dpkt read with the right count, plots."""

import itertools
import shutil
import subprocess

import dpkt
import pytest

from qdisclab.cli import main

OV = ["--duration", "300ms", "--set", 'run.record.pcap=["R1:eth0"]']


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["run", "udp-dumbbell", *OV, "--out", str(out)]) == 0
    return out


def test_run_directory_files(run_dir):
    import json
    import tomllib

    for name in ("scenario.toml", "flows.csv", "qdiscs.csv", "tc-stats.txt", "results.json"):
        assert (run_dir / name).stat().st_size > 0
    resolved = tomllib.loads((run_dir / "scenario.toml").read_text())
    assert resolved["run"]["duration"] == "300000000ns"
    assert "qdisc pfifo" in (run_dir / "tc-stats.txt").read_text()
    flows = (run_dir / "flows.csv").read_text().splitlines()
    assert len(flows) == 1 + 4 and flows[1].startswith("S1->D1")
    res = json.loads((run_dir / "results.json").read_text())
    assert res["pcap"]["R1:eth0"] > 1000


def test_plots_count_and_size(run_dir):
    pngs = sorted(p.name for p in run_dir.glob("*.png"))
    assert pngs == ["delay-cdf.png", "queue-delay.png", "queue-length.png", "throughput.png"]
    for p in run_dir.glob("*.png"):
        assert p.stat().st_size > 5000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _expected_count(run_dir):
    import json

    res = json.loads((run_dir / "results.json").read_text())
    q = next(q for q in res["qdiscs"] if q["node"] == "R1" and q["dev"] == "eth0")
    assert q["packets"] == res["pcap"]["R1:eth0"]  # every transmitted packet was captured
    return q["packets"]


def test_pcap_parsed_by_dpkt(run_dir):
    n = _expected_count(run_dir)
    with open(run_dir / "R1-eth0.pcap", "rb") as f:
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == 101
        pkts = list(reader)
    assert len(pkts) == n
    _ts0, buf = pkts[0]
    ip = dpkt.ip.IP(buf)
    assert ip.p == 17 and ip.len == 1500 and ip.udp.dport == 5001
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(pkts))
    assert pkts[-1][0] < 0.3


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_pcap_read_by_tcpdump(run_dir):
    n = _expected_count(run_dir)
    out = subprocess.run(["tcpdump", "-nn", "-r", str(run_dir / "R1-eth0.pcap")],
                         capture_output=True, text=True, check=True)  # fmt: skip
    lines = out.stdout.splitlines()
    assert len(lines) == n
    assert "UDP, length 1472" in lines[0]


def test_progress_reports_simulated_time_and_does_not_change_results():
    import json

    from qdisclab.scenario import run_scenario

    seen = []
    with_bar = run_scenario("udp-dumbbell", duration_ns=200_000_000,
                            progress=lambda now, total: seen.append((now, total)))  # fmt: skip
    without = run_scenario("udp-dumbbell", duration_ns=200_000_000)
    assert len(seen) == 50 and all(total == 200_000_000 for _, total in seen)
    times = [now for now, _ in seen]
    assert times == sorted(times) and times[-1] == 200_000_000
    assert json.dumps(with_bar, sort_keys=True) == json.dumps(without, sort_keys=True)
