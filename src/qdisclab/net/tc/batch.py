"""``tc -b FILE`` and ``qdisclab tc --batch-json -``: many command lines on one host.

``--batch-json`` runs every line, even after a failure, and prints one JSON
object per input line; ``#reset`` starts a fresh host, other ``#`` lines and
blank lines are echoed with exit 0.

>>> for row in run_batch_json(["ip link add dev d0 type dummy", "qdisc show dev d0"]):
...     print(row["exit"], repr(row["stdout"]))
0 ''
0 'qdisc noqueue 0: root refcnt 2 \\n'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from qdisclab.net.tc.host import CmdResult, TcHost


def run_batch_json(lines: Iterable[str], host: TcHost | None = None) -> Iterator[dict[str, Any]]:
    """One result object per line (``{"line", "cmd", "exit", "stdout", "stderr"}``)."""
    host = host or TcHost()
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n")
        text = line.strip()
        if text == "#reset":
            host = TcHost()
            result = CmdResult(0)
        elif not text or text.startswith("#"):
            result = CmdResult(0)
        else:
            result = host.run(text)
        yield {"line": number, "cmd": line, "exit": result.exit,
               "stdout": result.stdout, "stderr": result.stderr}  # fmt: skip


def run_batch(
    lines: Iterable[str], host: TcHost | None = None, options: list[str] | None = None
) -> CmdResult:
    """``tc -b``: stop at the first failing line, as tc does; stderr names the line."""
    host = host or TcHost()
    out: list[str] = []
    err: list[str] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if options and not text.startswith("ip "):  # tc -s -b FILE: the options apply to each line
            text = " ".join([*options, text.removeprefix("tc ")])
        result = host.run(text)
        out.append(result.stdout)
        err.append(result.stderr)
        if result.exit:
            err.append(f"Command failed -:{number}\n")
            return CmdResult(1, "".join(out), "".join(err))
    return CmdResult(0, "".join(out), "".join(err))
