"""The run directory: resolved scenario, CSV metrics, tc statistics, traces and plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import tomli_w

from qdisclab.scenario.loader import Loaded


def write_outputs(
    out: Path,
    loaded: Loaded,
    world: Any,
    results: dict[str, Any],
    traces: dict[str, Any],
    objects: list[Any] = (),
) -> list[Path]:
    """Write every artefact of a run into ``out``; returns the files written."""
    from qdisclab.measure import plots

    written = []
    resolved = loaded.scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    resolved["run"]["seed"] = results["seed"]
    p = out / "scenario.toml"
    p.write_text(tomli_w.dumps(resolved))
    written.append(p)
    p = out / "flows.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["flow", "sent_packets", "sent_bytes", "delivered_packets", "delivered_bytes",
                    "dropped", "throughput_mbps", "p50_ms", "p90_ms", "p99_ms", "max_ms"])  # fmt: skip
        for row in results["flows"]:
            d = row.get("delay_ms") or {}
            w.writerow([row["flow"], row["sent_packets"], row["sent_bytes"],
                        row["delivered_packets"], row["delivered_bytes"],
                        sum(row["dropped"].values()), row.get("throughput_mbps"),
                        d.get("p50"), d.get("p90"), d.get("p99"), d.get("max")])  # fmt: skip
    written.append(p)
    p = out / "qdiscs.csv"
    keys = ["node", "dev", "kind", "handle", "parent", "bytes", "packets", "drops", "overlimits",
            "requeues", "backlog", "qlen"]  # fmt: skip
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for row in results["qdiscs"]:
            w.writerow([row.get(k) for k in keys])
    written.append(p)
    p = out / "tc-stats.txt"
    p.write_text(world.tc_stats() + "\n")
    written.append(p)
    p = out / "results.json"
    p.write_text(json.dumps(results, indent=2))
    written.append(p)
    for ref, tr in traces.items():
        p = out / f"trace-{ref.replace(':', '-')}.csv"
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["time_s", "qlen", "backlog_bytes", "delay_ms"])
            w.writerows(tr.rows())
        written.append(p)
    cwnd_traces = {o.name: tr for o in objects if hasattr(o, "cwnd_trace")
                   if (tr := o.cwnd_trace()) is not None}  # fmt: skip
    if cwnd_traces:
        p = out / "cwnd.csv"
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["flow", "time_s", "cwnd", "ssthresh", "srtt_ms", "pacing_mbps"])
            for name, tr in cwnd_traces.items():
                for t, c, ss, srtt, rate in zip(tr["t"], tr["cwnd"], tr["ssthresh"],
                                                tr["srtt_us"], tr["pacing"], strict=True):  # fmt: skip
                    w.writerow([name, t / 1e9, c, ss, srtt / 1000, rate * 8 / 1e6])
        written.append(p)
    if loaded.scenario.run.record.plots:
        series = {name: b.observer.throughput_series() for name, b in world.flows.items()
                  if b.observer is not None and b.observer.bins}  # fmt: skip
        written.append(plots.throughput(series, out / "throughput.png"))
        written.append(plots.queue_series(traces, "delay_ns", "queueing delay (ms)",
                                          out / "queue-delay.png"))  # fmt: skip
        written.append(plots.queue_series(traces, "qlen", "queue length (packets)",
                                          out / "queue-length.png"))  # fmt: skip
        samples = {name: b.observer.delays for name, b in world.flows.items()
                   if b.observer is not None and len(getattr(b.observer, "delays", ()))}  # fmt: skip
        samples.update({f"queue {ref}": tr.delay_ns for ref, tr in traces.items()})
        written.append(plots.delay_cdf(samples, out / "delay-cdf.png"))
        cwnds = results.get("cwnd_series") or {}
        if cwnds:
            written.append(plots.cwnd(cwnds, out / "cwnd.png"))
    return written
