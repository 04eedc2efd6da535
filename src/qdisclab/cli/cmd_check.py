"""``qdisclab check FILE.py[:Class]``: explore a user qdisc and report what breaks."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        target: Annotated[
            str, typer.Argument(help="FILE.py or FILE.py:Class (or a built-in spec with --builtin)")
        ],
        examples: Annotated[
            int, typer.Option("--examples", help="generated sequences to try")
        ] = 200,
        seed: Annotated[
            int | None, typer.Option("--seed", help="seed the search (default: derandomized)")
        ] = None,
        policy: Annotated[
            str, typer.Option("--policy", help="ownership policy: strict or contain")
        ] = "strict",
        options: Annotated[
            str, typer.Option("--options", help="tc-syntax options for init, e.g. 'limit 100'")
        ] = "",
        builtin: Annotated[
            bool,
            typer.Option(
                "--builtin", help="TARGET is a registered kind's spec ('tbf rate 1mbit ...')"
            ),
        ] = False,
        json_out: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
    ) -> None:
        """Explore a qdisc with generated traffic; exit 1 if a problem is found, 0 if clean.

        Reports ownership and kfunc faults, exceptions, accounting imbalance,
        negative qlen/backlog and a stuck qdisc, each with a minimal trace.
        """  # fmt: skip
        from qdisclab.check import Target, check_file, check_target
        from qdisclab.errors import UserError
        from qdisclab.ops import POLICIES

        if policy not in POLICIES or policy == "off":
            raise UserError(f"--policy must be strict or contain (found {policy!r})")
        if examples < 1:
            raise UserError("--examples must be at least 1")
        if builtin:
            results = [check_target(Target.from_spec(target), examples, seed, policy)]
        else:
            results = check_file(target, examples, seed, policy, options)
        if json_out:
            typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
        else:
            _print(results)
        if any(not r.ok for r in results):
            raise typer.Exit(1)


def _print(results) -> None:
    console = Console(highlight=False)
    for r in results:
        if r.ok:
            console.print(f"[green]ok[/green] {r.cls_name} ({r.name}): {r.examples} generated "
                          "sequences, no problem found")  # fmt: skip
            continue
        for f in r.findings:
            where = f" in {f.kind}.{f.callback}" if f.callback else ""
            errno = f" [{f.errno}]" if f.errno else ""
            console.print(f"[red]FAIL[/red] {r.cls_name} ({r.name}): [bold]{f.category}"
                          f"[/bold]{errno}{where}", markup=True)  # fmt: skip
            console.print(f"  {f.message}", markup=False)
            if f.packet:
                console.print(f"  packet: {f.packet}", markup=False)
            if f.trace:
                console.print("  minimal reproducing trace:", markup=False)
                for line in f.trace:
                    console.print(f"    {line}", markup=False)
