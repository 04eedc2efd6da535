"""PNG plots of a run and of a sweep (matplotlib, Agg backend: no display needed).

Each function writes one file and returns its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def throughput(series: dict[str, list[tuple[float, float]]], path: Path) -> Path:
    """Throughput per flow over time: ``{flow: [(t s, Mbit/s), ...]}`` (TCP: goodput)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, points in series.items():
        if points:
            xs, ys = _thin([p[0] for p in points], [p[1] for p in points])
            ax.plot(xs, ys, label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("throughput (Mbit/s)")
    ax.set_title("throughput per flow")
    if series:
        ax.legend(fontsize="small")
    return _save(fig, path)


def queue_series(traces: dict[str, Any], field: str, ylabel: str, path: Path) -> Path:
    """A sampled queue quantity (``delay_ns`` or ``qlen``) per traced device over time."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, tr in traces.items():
        values = getattr(tr, field)
        scale = 1e6 if field == "delay_ns" else 1
        ax.plot([t / 1e9 for t in tr.times], [v / scale for v in values], label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    if traces:
        ax.legend(fontsize="small")
    return _save(fig, path)


MAX_POINTS = 2000  # per curve: enough for a figure, cheap to draw


def _thin(xs: Any, ys: Any) -> tuple[Any, Any]:
    step = max(1, -(-len(xs) // MAX_POINTS))
    return xs[::step], ys[::step]


def sojourn(series: dict[str, tuple[Any, Any]], path: Path) -> Path:
    """Per-packet sojourn time in a qdisc over time: ``{name: (dequeue times ns, sojourns ns)}``."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, (times, values) in series.items():
        xs, ys = _thin(times, values)
        ax.plot([t / 1e9 for t in xs], [v / 1e6 for v in ys], label=name, linewidth=0.8)
    ax.set_xlabel("dequeue time (s)")
    ax.set_ylabel("sojourn time (ms)")
    ax.set_title("time packets spent in the qdisc (per packet, thinned)")
    if series:
        ax.legend(fontsize="small")
    return _save(fig, path)


def delay_cdf(samples: dict[str, Any], path: Path) -> Path:
    """Empirical CDF of delays (ms) per flow or device: ``{name: iterable of ns}``."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in samples.items():
        values = sorted(values)
        if not values:
            continue
        n = len(values)
        step = max(1, n // MAX_POINTS)  # keep files small: at most ~2000 points per curve
        xs = [v / 1e6 for v in values[::step]]
        ys = [(i * step + 1) / n for i in range(len(xs))]
        ax.plot(xs, ys, label=name)
    ax.set_xlabel("one-way delay per flow, sojourn per qdisc (ms)")
    ax.set_ylabel("CDF")
    ax.set_ylim(0, 1)
    if samples:
        ax.legend(fontsize="small")
    return _save(fig, path)


def cwnd(series: dict[str, list[tuple[float, float]]], path: Path) -> Path:
    """Congestion window per TCP flow over time: ``{flow: [(t s, cwnd packets)]}``."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, points in series.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("cwnd (packets)")
    ax.legend(fontsize="small")
    return _save(fig, path)


def metric_vs_param(
    xs: list[str], means: dict[str, list[float]], stds: dict[str, list[float]],
    xlabel: str, ylabel: str, path: Path,
) -> Path:  # fmt: skip
    """A metric against a parameter's values (categorical), mean with ±std error bars."""
    fig, ax = plt.subplots(figsize=(7, 4))
    positions = list(range(len(xs)))
    for label in means:
        ax.errorbar(positions, means[label], yerr=stds[label], marker="o", capsize=4, label=label)
    ax.set_xticks(positions, xs, rotation=20, fontsize="small")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(means) > 1:
        ax.legend(fontsize="small")
    return _save(fig, path)
