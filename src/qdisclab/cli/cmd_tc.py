"""``qdisclab tc``: iproute2's ``tc`` on a simulated host (``-s -d -j``, ``-b FILE|-``, ``--batch-json -``).

qdisclab tc --batch-json - < cases.txt     # one JSON object per line
qdisclab tc -b script.tc                    # as `tc -b`: stop at the first failure
qdisclab tc -s qdisc show                   # (an empty host: nothing to show)
"""

from __future__ import annotations

import json
import sys

import typer

from qdisclab.errors import UserError


def register(app: typer.Typer) -> None:
    @app.command(
        "tc",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                          "help_option_names": []},
        add_help_option=False,
    )  # fmt: skip
    def tc(ctx: typer.Context) -> None:
        """iproute2's tc on a simulated host: tc [-s] [-d] [-j] OBJECT CMD | -b FILE | --batch-json FILE."""
        raise typer.Exit(run_tc(list(ctx.args)))


def run_tc(argv: list[str]) -> int:
    """Run ``qdisclab tc ARGS``; returns the exit code (tc's own)."""
    from qdisclab.net.tc import TcHost, run_batch, run_batch_json

    if argv[:1] == ["--batch-json"]:
        if len(argv) < 2:
            sys.stderr.write('Command line is not complete. Try option "help"\n')
            return 255
        for row in run_batch_json(_lines(argv[1])):
            sys.stdout.write(json.dumps(row) + "\n")
        return 0
    if "-b" in argv or "-batch" in argv:
        at = argv.index("-b") if "-b" in argv else argv.index("-batch")
        if at + 1 >= len(argv):
            sys.stderr.write('Command line is not complete. Try option "help"\n')
            return 255
        result = run_batch(_lines(argv[at + 1]), options=argv[:at])
    else:
        result = TcHost().tc(argv)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.exit


def _lines(path: str) -> list[str]:
    if path == "-":
        return sys.stdin.read().splitlines()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except OSError as exc:
        raise UserError(f'Cannot open file "{path}" for reading: {exc.strerror}') from None
