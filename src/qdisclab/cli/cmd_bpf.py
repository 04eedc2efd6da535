"""``qdisclab bpf``: header, build, inspect and verify compiled BPF objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

bpf_app = typer.Typer(
    help="Compiled BPF objects: write the headers, build, inspect, verify on the host.",
    no_args_is_help=True,
)


@bpf_app.command()
def header(
    helpers: Annotated[
        bool, typer.Option("--helpers", help="print qdisclab_bpf.h instead of vmlinux.h")
    ] = False,
) -> None:
    """Print vmlinux.h (the kernel types as qdisclab models them): qdisclab bpf header > vmlinux.h"""
    from qdisclab.bpf.vmlinux_header import helper_header_path, vmlinux_h

    typer.echo(helper_header_path().read_text() if helpers else vmlinux_h(), nl=False)


@bpf_app.command()
def build(
    source: Annotated[Path, typer.Argument(help="BPF C source (x.bpf.c)")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="object path")] = None,
) -> None:
    """Compile BPF C with qdisclab's headers (clang >= 15 or the ziglang wheel)."""
    from qdisclab.bpf.build import build as compile_source
    from qdisclab.bpf.build import find_compiler

    compiler = find_compiler()
    out = compile_source(source, output, compiler)
    typer.echo(f"{out}  ({compiler.describe()})")


@bpf_app.command()
def inspect(
    obj_path: Annotated[Path, typer.Argument(metavar="OBJ", help="a BPF object (.bpf.o)")],
    json_out: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """List an object's programs, maps, global data, struct_ops, kfuncs and kernel types."""
    from qdisclab.bpf.inspect import inspect_object
    from qdisclab.bpf.objects import load_object

    summary = inspect_object(load_object(obj_path))
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
        return
    _render(summary)


# Exit status of `qdisclab bpf verify` per outcome (host_verify's constants).
VERIFY_EXIT = {"accepted": 0, "rejected": 1, "unsupported": 3, "unavailable": 4}


@bpf_app.command()
def verify(
    obj_path: Annotated[Path, typer.Argument(metavar="OBJ", help="a BPF object (.bpf.o)")],
) -> None:
    """Run OBJ through this machine's kernel verifier (root; nothing is attached).

    Exit status: 0 accepted, 1 rejected, 3 the kernel lacks the program type,
    4 cannot try here (not root, no libbpf).
    """
    from qdisclab.bpf.host_verify import verify as host_verify

    verdict = host_verify(obj_path)
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"{obj_path}: {verdict.outcome}: {verdict.reason}", markup=False)
    if verdict.outcome == "rejected":
        for line in verdict.log:
            out.print(f"  {line}", markup=False)
    raise typer.Exit(VERIFY_EXIT[verdict.outcome])


def _render(s: dict) -> None:
    out = Console(highlight=False)
    out.print(f"[bold]{s['path']}[/bold]  license {s['license']!r}")
    table = Table(title="programs")
    for col in ("name", "section", "type", "insns", "subprograms"):
        table.add_column(col, overflow="fold")
    for p in s["programs"]:
        ptype = p["type"] + (f" {p['attach']}" if p["attach"] else "")
        table.add_row(p["name"], p["section"], ptype, str(p["insns"]), ", ".join(p["subprograms"]))
    out.print(table)
    if s["struct_ops"]:
        table = Table(title="struct_ops")
        for col in ("map", "struct", "kind", "members"):
            table.add_column(col)
        for m in s["struct_ops"]:
            members = ", ".join(f"{k}={v}" for k, v in m["members"].items())
            table.add_row(m["name"], m["struct"], m["kind"], members)
        out.print(table)
    if s["maps"]:
        table = Table(title="maps")
        for col in ("name", "type", "key", "value", "max_entries", "special fields"):
            table.add_column(col)
        for m in s["maps"]:
            table.add_row(
                m["name"], m["type"], m["key"] or f"{m['key_size']} B",
                m["value"] or f"{m['value_size']} B", str(m["max_entries"]),
                "; ".join(m["fields"]) + (f" inner: {m['inner']}" if "inner" in m else ""),
            )  # fmt: skip
        out.print(table)
    if s["global_data"]:
        table = Table(title="global data")
        for col in ("section", "bytes", "variables", "special fields"):
            table.add_column(col)
        for g in s["global_data"]:
            ro = " (read-only)" if g["read_only"] else ""
            table.add_row(
                g["section"] + ro, str(g["size"]), ", ".join(g["variables"]), "; ".join(g["fields"])
            )
        out.print(table)
    for key, title in (("kfuncs", "kfuncs"), ("helpers", "helpers"), ("kconfig", "kconfig")):
        if s[key]:
            out.print(f"{title}: {', '.join(s[key])}", soft_wrap=True)
    out.print(f"kernel types (CO-RE): {', '.join(s['kernel_types']) or 'none'}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(bpf_app, name="bpf")
