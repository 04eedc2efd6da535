"""What the run plots draw, as plain lists, and a worker process that draws them.

Building a figure costs far more than the data behind it, and importing
matplotlib alone takes about a second and a half. So the run's curves are
reduced here to at most ``MAX_POINTS`` points each (a stride sample over
time; quantile points for a CDF), packed in a picklable dict, and drawn by
``qdisclab.measure.plots.draw_run`` in a worker process that is started (and
imports matplotlib) while the simulation runs.

>>> xs, ys = cdf_points(range(10_000))
>>> len(xs) <= MAX_POINTS, ys[-1] <= 1.0, xs[0]
(True, True, 0.0)
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

MAX_POINTS = 2000  # per curve: enough for a figure, cheap to draw


def thin(xs: Any, ys: Any) -> tuple[list[Any], list[Any]]:
    """Every k-th point, k chosen so at most ``MAX_POINTS`` remain."""
    step = max(1, -(-len(xs) // MAX_POINTS))
    return list(xs[::step]), list(ys[::step])


def cdf_points(values_ns: Any) -> tuple[list[float], list[float]]:
    """Empirical CDF of ``values_ns`` as (values in ms, fraction <= value), thinned."""
    values = sorted(values_ns)
    n = len(values)
    if not n:
        return [], []
    step = max(1, -(-n // MAX_POINTS))
    xs = [v / 1e6 for v in values[::step]]
    ys = [(i * step + 1) / n for i in range(len(xs))]
    return xs, ys


class PlotWorker:
    """A child Python process that imports matplotlib now and draws a run's plots later.

    It is started with ``python -m qdisclab.measure.plotdata`` (not forked, not
    multiprocessing's spawn, which would re-run the caller's script), gets the
    payload pickled on its standard input (``start``, so it draws while the caller
    writes its data files) and answers with the files written (``finish``).
    If it cannot start or fails, the plots are drawn in this process instead.
    """

    def __init__(self) -> None:
        import qdisclab

        env = dict(os.environ)
        src = str(Path(qdisclab.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self._thread: threading.Thread | None = None
        self._answer: bytes | None = None
        self._job: tuple[Path, dict[str, Any]] = (Path(), {})
        try:
            self._proc: subprocess.Popen | None = subprocess.Popen(
                [sys.executable, "-m", "qdisclab.measure.plotdata"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
        except OSError:
            self._proc = None

    def start(self, out: Path, payload: dict[str, Any]) -> None:
        """Hand ``payload`` to the child, which draws while the caller writes its files."""
        proc = self._proc
        self._job = (out, payload)
        if proc is None:
            return
        data = pickle.dumps((str(out), payload))
        # A thread feeds the pipe and collects the answer: the child may still be importing.
        self._thread = threading.Thread(target=self._talk, args=(proc, data), daemon=True)
        self._thread.start()

    def _talk(self, proc: subprocess.Popen, data: bytes) -> None:
        try:
            self._answer = proc.communicate(data, timeout=300)[0]
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def finish(self) -> list[Path]:
        """Wait for the plots started by ``start``; draw them here if the child failed."""
        proc, self._proc = self._proc, None
        out, payload = self._job
        if self._thread is not None:
            self._thread.join()
        if proc is not None and proc.returncode == 0 and self._answer is not None:
            return [Path(p) for p in self._answer.decode().split("\n") if p]
        from qdisclab.measure.plots import draw_run

        return draw_run(out, payload)

    def close(self) -> None:
        """Stop the child if ``finish`` was never reached (an error while writing)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if self._thread is not None:
            self._thread.join()


def _child() -> None:
    from qdisclab.measure.plots import draw_run  # the slow import, while the parent simulates

    out, payload = pickle.loads(sys.stdin.buffer.read())
    sys.stdout.write("\n".join(str(p) for p in draw_run(Path(out), payload)))


if __name__ == "__main__":
    _child()
