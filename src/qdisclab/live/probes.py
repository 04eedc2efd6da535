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


def iperf3_server() -> list[str]:
    """A one-shot iperf3 server on namespace b's address."""
    return ["iperf3", "-s", "-1", "-B", ADDR_B, "-p", str(IPERF3_PORT), "-J"]


def iperf3_client(seconds: float, cc: str, warmup: float = 0.0) -> list[str]:
    """A bulk TCP upload from namespace a to b for ``seconds``, congestion control ``cc``.

    The first ``warmup`` seconds are left out of the report (``-O``); iperf3
    counts both in whole seconds.
    """
    omit = int(warmup)
    measured = max(1, round(seconds - omit))
    argv = ["iperf3", "-c", ADDR_B, "-p", str(IPERF3_PORT), "-t", str(measured), "-J", "-C", cc]
    return argv + (["-O", str(omit)] if omit else [])


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


def cwnd_trace(text: str) -> list[tuple[float, int, int | None]]:
    """``(t_s, cwnd, ssthresh)`` samples of the bulk connection from ``cwnd_poller`` output.

    The bulk connection is the one that has delivered the most (iperf3's
    control connection shares the port); ``ssthresh`` is None before the
    first reduction. Times count from the first sample.

    >>> cwnd_trace("5.00 1.0\\n cwnd:10 bytes_acked:9\\n cwnd:40 ssthresh:30 bytes_acked:900\\n")
    [(0.0, 40, 30)]
    """
    samples: list[tuple[float, int, int | None]] = []
    t0 = now = None
    best: dict[str, int] = {}

    def flush() -> None:
        if now is not None and best:
            samples.append((round(now - t0, 3), best["cwnd"], best.get("ssthresh")))

    for line in text.splitlines():
        fields = dict(_SS_FIELD.findall(line))
        if fields:
            if "cwnd" in fields and int(fields.get("bytes_acked", 0)) >= best.get("acked", -1):
                best = {k: int(v) for k, v in fields.items()}
                best["acked"] = best.pop("bytes_acked", 0)
            continue
        parts = line.split()
        if len(parts) == 2 and parts[0].replace(".", "", 1).isdigit():
            flush()
            now = float(parts[0])
            t0 = now if t0 is None else t0
            best = {}
    flush()
    return samples


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
    """Goodput, retransmits and congestion control from iperf3's client JSON."""
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        raise UserError(f"iperf3 printed no JSON report: {text.strip()[:200]!r}") from None
    if "error" in report:
        raise UserError(f"iperf3 failed: {report['error']}")
    end = report.get("end", {})
    received = end.get("sum_received", {})
    sent = end.get("sum_sent", {})
    return {
        "throughput_mbps": round(received.get("bits_per_second", 0.0) / 1e6, 3),
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
