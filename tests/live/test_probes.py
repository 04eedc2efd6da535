"""What live runs read from the tools: iperf3's per-stream report and the ss cwnd samples."""

from __future__ import annotations

import json

from qdisclab.live.experiment import LiveConfig, traffic_results
from qdisclab.live.probes import cwnd_traces, iperf3_client, iperf3_result

IPERF3 = {
    "start": {
        "connected": [{"socket": 5, "local_port": 40001}, {"socket": 7, "local_port": 40002}]
    },
    "end": {
        "streams": [
            {"sender": {"socket": 5}, "receiver": {"socket": 5, "bits_per_second": 4.7e6}},
            {"sender": {"socket": 7}, "receiver": {"socket": 7, "bits_per_second": 4.6e6}},
        ],
        "sum_received": {"bits_per_second": 9.3e6, "bytes": 9_300_000, "seconds": 8.0},
        "sum_sent": {"retransmits": 12},
        "sender_tcp_congestion": "cubic",
    },
}
# two samples 50 ms apart; the control connection (port 39999) has delivered almost nothing
SS = """100.00 1.0
ESTAB 0 0 192.0.2.1:39999 192.0.2.2:5201
\t cubic cwnd:10 bytes_acked:100
ESTAB 0 0 192.0.2.1:40002 192.0.2.2:5201
\t cubic cwnd:14 ssthresh:11 bytes_acked:5000
ESTAB 0 0 192.0.2.1:40001 192.0.2.2:5201
\t cubic cwnd:20 bytes_acked:4000
100.05 1.0
ESTAB 0 0 192.0.2.1:40002 192.0.2.2:5201
\t cubic cwnd:15 ssthresh:11 bytes_acked:9000
ESTAB 0 0 192.0.2.1:40001 192.0.2.2:5201
\t cubic cwnd:12 ssthresh:12 bytes_acked:8000
"""


def test_parallel_streams_are_reported_with_their_local_ports():
    result = iperf3_result(json.dumps(IPERF3))
    assert result["streams"] == [
        {"port": 40001, "throughput_mbps": 4.7},
        {"port": 40002, "throughput_mbps": 4.6},
    ]
    assert (result["throughput_mbps"], result["retransmits"], result["cc"]) == (9.3, 12, "cubic")
    assert iperf3_client(8, "cubic", 2, streams=2)[-2:] == ["-P", "2"]
    assert "-P" not in iperf3_client(8, "cubic", 2)


def test_each_connection_has_its_own_cwnd_trace_most_delivered_first():
    traces = cwnd_traces(SS)
    assert list(traces) == [40002, 40001, 39999]
    assert traces[40002] == [(0.0, 14, 11), (0.05, 15, 11)]
    assert traces[40001] == [(0.0, 20, None), (0.05, 12, 12)]


def test_a_flow_gets_the_cwnd_of_its_own_connection():
    config = LiveConfig(duration=8.0, streams=2, probe="none", trace_cwnd=True)
    out = traffic_results(config, {"client": json.dumps(IPERF3), "cwnd": SS})
    first, second = out["flows"]
    assert (first["port"], first["throughput_mbps"], first["cwnd"]["max"]) == (40001, 4.7, 20)
    assert (second["port"], second["cwnd"]["max"], second["cwnd"]["reductions"]) == (40002, 15, 1)
    assert out["cwnd"]["max"] == 15  # the single-flow figure: the most-delivered connection
