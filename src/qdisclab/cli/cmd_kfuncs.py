"""``qdisclab kfuncs``: every kfunc, as declared: Python method, flags, allowed callbacks, doc."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def kfuncs(
        json_out: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
    ) -> None:
        """List every kfunc: how a policy calls it, its flags, where it is allowed, what it does."""
        from qdisclab.ops.kfunc import KFUNCS, load_subsystems

        load_subsystems()
        rows = KFUNCS.all()
        if json_out:
            typer.echo(json.dumps([
                {"name": k.name, "interface": k.interface, "method": k.python,
                 "signature": k.signature, "flags": k.flag_names(),
                 "allowed": sorted(k.allowed), "doc": k.doc} for k in rows
            ], indent=2))  # fmt: skip
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="kfuncs")
        for col in ("interface", "kfunc", "called as", "flags", "allowed in", "what it does"):
            table.add_column(col, overflow="fold")
        for k in rows:
            called = f"{k.python[:-2]}{k.signature}" if k.method else "-"
            first_line = k.doc.splitlines()[0] if k.doc else ""
            table.add_row(
                k.interface, k.name, called, " ".join(k.flag_names()) or "-",
                k.allowed_text(), first_line,
            )  # fmt: skip
        # Full width, never cut at the terminal's 80 columns (pipes and CI included).
        Console(width=max(200, Console().width), soft_wrap=True).print(table)
