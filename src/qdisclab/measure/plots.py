"""PNG plots of a run and of a sweep (matplotlib, Agg backend: no display needed).

``draw_run`` draws every plot of a run from plain lists (see
``qdisclab.measure.plotdata``); ``metric_vs_param`` one sweep plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _save(fig: Any, path: Path, tight: bool = False) -> Path:
    if tight:
        fig.tight_layout()  # measures every label: worth it only for rotated ticks
    else:
        fig.subplots_adjust(left=0.09, right=0.98, top=0.9, bottom=0.13)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _lines(series: dict[str, tuple[Any, Any]], path: Path, xlabel: str, ylabel: str,
           title: str = "", size: tuple[float, float] = (8, 4), **style: Any) -> Path:  # fmt: skip
    """One line per ``{name: (xs, ys)}``, a legend, axis labels."""
    fig, ax = plt.subplots(figsize=size)
    for name, (xs, ys) in series.items():
        if len(xs):
            ax.plot(xs, ys, label=name, **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if series:
        ax.legend(fontsize="small")
    return _save(fig, path)


def draw_run(out: Path, payload: dict[str, Any]) -> list[Path]:
    """Every plot of one run from ``payload`` (built by ``scenario.outputs.plot_payload``).

    Keys: ``throughput`` and ``cwnd`` ``{flow: (t s, values)}``, ``sojourn``
    and ``qlen`` ``{qdisc: (t s, values)}`` (sojourn in ms), ``cdf``
    ``{name: (ms, fraction)}``.
    """
    written = [
        _lines(payload["throughput"], out / "throughput.png", "time (s)", "throughput (Mbit/s)",
               "throughput per flow (TCP: goodput)"),
        _lines(payload["sojourn"], out / "queue-delay.png", "dequeue time (s)",
               "sojourn time (ms)", "time packets spent in the qdisc (per packet, thinned)",
               linewidth=0.8),
        _lines(payload["qlen"], out / "queue-length.png", "time (s)", "queue length (packets)"),
        _lines(payload["cdf"], out / "delay-cdf.png",
               "one-way delay per flow, sojourn per qdisc (ms)", "CDF", size=(6, 4)),
    ]  # fmt: skip
    if payload["cwnd"]:
        written.append(_lines(payload["cwnd"], out / "cwnd.png", "time (s)", "cwnd (packets)"))
    return written


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
    return _save(fig, path, tight=True)
