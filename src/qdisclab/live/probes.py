"""The traffic tools of a live run: iperf3 (bulk TCP) and ping, their commands and results.

Commands are built here and parsed here, so the experiment only starts and
waits. ``ping`` output is parsed from its text (``-n``, one reply a line);
iperf3 reports JSON (``-J``).

>>> ping_rtts_ms("64 bytes from 192.0.2.2: icmp_seq=1 ttl=64 time=21.4 ms\\n", 0.1, 0.0)
[21.4]
>>> rtt_summary([1.0, 2.0, 3.0, 4.0])["p50"]
2.0
"""

from __future__ import annotations

import json
import re
from typing import Any

from qdisclab.errors import UserError
from qdisclab.live.netns import ADDR_B
from qdisclab.skb.flowmetrics import percentile

IPERF3_PORT = 5201
_REPLY = re.compile(r"icmp_seq=(\d+) .*?time=([\d.]+) ms")
_SS_FIELD = re.compile(r"\b(cwnd|ssthresh|bytes_acked):(\d+)")
_SS_LOCAL = re.compile(r"\s\S+:(\d+)\s+\S+:" + str(IPERF3_PORT) + r"\b")  # local port


def iperf3_server() -> list[str]:
    """A one-shot iperf3 server on namespace b's address."""
    return ["iperf3", "-s", "-1", "-B", ADDR_B, "-p", str(IPERF3_PORT), "-J"]


def iperf3_client(seconds: float, cc: str, warmup: float = 0.0, streams: int = 1) -> list[str]:
    """``streams`` bulk TCP uploads from namespace a to b for ``seconds``, congestion control ``cc``.

    The first ``warmup`` seconds are left out of the report (``-O``); iperf3
    counts both in whole seconds.
    """
    omit = int(warmup)
    measured = max(1, round(seconds - omit))
    argv = ["iperf3", "-c", ADDR_B, "-p", str(IPERF3_PORT), "-t", str(measured), "-J", "-C", cc]
    return (
        argv + (["-O", str(omit)] if omit else []) + (["-P", str(streams)] if streams > 1 else [])
    )


def ping_probe(seconds: float, interval: float) -> list[str]:
    """Echo requests from a to b every ``interval`` seconds for ``seconds``."""
    count = max(1, int(seconds / interval))
    return ["ping", "-n", "-i", f"{interval:g}", "-c", str(count), "-w", f"{seconds + 2:g}", ADDR_B]


def cwnd_poller(interval: float) -> list[str]:
    """Print the uptime and ``ss -ti`` of the connections to the iperf3 server, every ``interval``.

    One shell loop in namespace a (no namespace switch per sample); the host
    has no ``tcp:tcp_probe`` tracepoint to read instead.
    """
    loop = (f"while :; do cat /proc/uptime; ss -tinH dst {ADDR_B} dport = :{IPERF3_PORT};"
            f" sleep {interval:g}; done")  # fmt: skip
    return ["sh", "-c", loop]


def cwnd_traces(text: str) -> dict[int, list[tuple[float, int, int | None]]]:
    """Per local port of a connection to the iperf3 server, ``(t_s, cwnd, ssthresh)`` samples.

    From ``cwnd_poller`` output; the ports come most-delivered first (so the
    bulk streams lead and iperf3's control connection, which shares the
    server port, comes last); ``ssthresh`` is None before a connection's first
    reduction. Times count from the first sample.

    >>> out = "5.00 1.0\\nE 0 0 192.0.2.1:41 192.0.2.2:5201\\n cwnd:10 bytes_acked:9\\n"
    >>> out += "E 0 0 192.0.2.1:42 192.0.2.2:5201\\n cwnd:40 ssthresh:30 bytes_acked:900\\n"
    >>> cwnd_traces(out)
    {42: [(0.0, 40, 30)], 41: [(0.0, 10, None)]}
    """
    series: dict[int, list[tuple[float, int, int | None]]] = {}
    acked: dict[int, int] = {}
    t0 = now = None
    port = 0
    for line in text.splitlines():
        fields = dict(_SS_FIELD.findall(line))
        if fields and "cwnd" in fields and now is not None:
            sample = (round(now - t0, 3), int(fields["cwnd"]),
                      int(fields["ssthresh"]) if "ssthresh" in fields else None)  # fmt: skip
            series.setdefault(port, []).append(sample)
            acked[port] = int(fields.get("bytes_acked", 0))
            continue
        if (local := _SS_LOCAL.search(line)) is not None:
            port = int(local.group(1))
            continue
        parts = line.split()
        if len(parts) == 2 and parts[0].replace(".", "", 1).isdigit():
            now = float(parts[0])
            t0 = now if t0 is None else t0
    return {p: series[p] for p in sorted(series, key=lambda p: -acked[p])}


def cwnd_summary(trace: list[tuple[float, int, int | None]], skip_s: float) -> dict[str, Any]:
    """Median and largest cwnd after ``skip_s``, and how many reductions (ssthresh changes)."""
    window = sorted(cwnd for t, cwnd, _ in trace if t >= skip_s)
    thresholds = [ssthresh for _, _, ssthresh in trace if ssthresh is not None]
    changes = sum(1 for a, b in zip([None, *thresholds], thresholds, strict=False) if a != b)
    return {
        "p50": percentile(window, 50) if window else None,
        "max": window[-1] if window else None,
        "reductions": changes,
        "samples": len(trace),
    }


def iperf3_result(text: str) -> dict[str, Any]:
    """Goodput (in all and per stream, with its local port), retransmits and congestion control
    from iperf3's client JSON."""
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        raise UserError(f"iperf3 printed no JSON report: {text.strip()[:200]!r}") from None
    if "error" in report:
        raise UserError(f"iperf3 failed: {report['error']}")
    end = report.get("end", {})
    received = end.get("sum_received", {})
    sent = end.get("sum_sent", {})
    ports = {
        c.get("socket"): c.get("local_port") for c in report.get("start", {}).get("connected", [])
    }
    streams = [
        {"port": ports.get(s.get("receiver", {}).get("socket")),
         "throughput_mbps": round(s.get("receiver", {}).get("bits_per_second", 0.0) / 1e6, 3)}
        for s in end.get("streams", [])
    ]  # fmt: skip
    return {
        "throughput_mbps": round(received.get("bits_per_second", 0.0) / 1e6, 3),
        "streams": streams,
        "retransmits": sent.get("retransmits"),
        "cc": end.get("sender_tcp_congestion"),
        "bytes": received.get("bytes"),
        "seconds": received.get("seconds"),
    }


def ping_rtts_ms(text: str, interval: float, skip_s: float) -> list[float]:
    """Reply RTTs (ms) of echo requests sent at least ``skip_s`` after the first one."""
    rtts = []
    for seq, rtt in _REPLY.findall(text):
        if (int(seq) - 1) * interval >= skip_s:
            rtts.append(float(rtt))
    return rtts


def rtt_summary(rtts: list[float]) -> dict[str, Any]:
    """``p50``/``p90``/``p99``/``max`` (ms) and the reply count; None when no reply came."""
    ordered = sorted(rtts)
    if not ordered:
        return {"p50": None, "p90": None, "p99": None, "max": None, "replies": 0}
    return {
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
        "replies": len(ordered),
    }
