"""``qdisclab kfuncs``: every kfunc, its flags and the callbacks allowed to call it."""

from __future__ import annotations

import importlib
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

# Subsystems that register kfuncs when imported (missing ones are skipped).
_SUBSYSTEMS = ("qdisclab.sched", "qdisclab.tcp.congestion", "qdisclab.tcp.sock_ops", "qdisclab.tcx")


def register(app: typer.Typer) -> None:
    @app.command()
    def kfuncs(
        json_out: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
    ) -> None:
        """List every kfunc with its flags and the callbacks allowed to call it."""
        from qdisclab.ops import KFUNCS

        for name in _SUBSYSTEMS:
            try:
                importlib.import_module(name)
            except ImportError:
                continue
        rows = KFUNCS.all()
        if json_out:
            typer.echo(json.dumps([
                {"name": k.name, "interface": k.interface, "flags": k.flag_names(),
                 "allowed": sorted(k.allowed), "doc": k.doc} for k in rows
            ], indent=2))  # fmt: skip
            return
        table = Table(title="kfuncs")
        for col in ("interface", "kfunc", "flags", "allowed in", "what it does"):
            table.add_column(col)
        for k in rows:
            allowed = "all callbacks" if "*" in k.allowed else ", ".join(sorted(k.allowed))
            table.add_row(k.interface, k.name, " ".join(k.flag_names()) or "-", allowed, k.doc)
        Console().print(table)
