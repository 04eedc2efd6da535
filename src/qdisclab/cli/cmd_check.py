"""``qdisclab check TARGET``: explore a qdisc, congestion control or tcx program and report what breaks."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        target: Annotated[
            str,
            typer.Argument(
                help="FILE.py, FILE.py:Name (a qdisc, congestion control or tcx program), a "
                "compiled BPF object OBJ.o[:NAME] (its qdisc, congestion control or tc "
                "programs), or a built-in spec with --builtin"
            ),
        ],
        examples: Annotated[
            int | None,
            typer.Option(
                "--examples", help="generated sequences to try (default: check.DEFAULT_EXAMPLES)"
            ),
        ] = None,
        max_ops: Annotated[
            int | None,
            typer.Option(
                "--max-ops",
                help="operations per sequence at most, a burst counting as one "
                "(default: check.DEFAULT_MAX_OPS)",
            ),
        ] = None,
        seed: Annotated[
            int | None,
            typer.Option("--seed", help="seed the generator (default 0): same seed, same report"),
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
        """Explore an extension with generated traffic; exit 1 if a problem is found, 0 if clean.

        A qdisc is driven to its limit and beyond with bursts sized from its
        options, with time passing between them; reported: ownership and kfunc
        faults, exceptions, return codes that contradict what happened, a limit
        exceeded, accounting imbalance, a stuck qdisc, a shaper over its rate,
        each with a short trace, then a coverage line. A congestion control
        gets ACK/loss/ECN sequences, a tcx program random packets.
        """  # fmt: skip
        from qdisclab.check import (
            DEFAULT_EXAMPLES,
            DEFAULT_MAX_OPS,
            Target,
            check_file,
            check_target,
        )
        from qdisclab.errors import UserError
        from qdisclab.ops import POLICIES

        if policy not in POLICIES or policy == "off":
            raise UserError(f"--policy must be strict or contain (found {policy!r})")
        examples = DEFAULT_EXAMPLES if examples is None else examples
        max_ops = DEFAULT_MAX_OPS if max_ops is None else max_ops
        if examples < 1:
            raise UserError("--examples must be at least 1")
        if max_ops < 1:
            raise UserError("--max-ops must be at least 1")
        if builtin:
            spec = " ".join([target, options]).strip()
            results = [check_target(Target.from_spec(spec), examples, seed, policy, max_ops)]
        else:
            results = check_file(target, examples, seed, policy, options, max_ops)
        if json_out:
            typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
        else:
            _print(results)
        if any(not r.ok for r in results):
            raise typer.Exit(1)


def _print(results) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    for r in results:
        if r.ok:
            console.print(f"[green]ok[/green] {r.cls_name} ({r.name}): {r.examples} generated "
                          "sequences, no problem found")  # fmt: skip
            if r.coverage is not None:
                console.print("  " + r.coverage.line().replace("\n", "\n  "), markup=False)
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
