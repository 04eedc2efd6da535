"""``qdisclab bpf``: header, build, inspect and verify compiled BPF objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

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


# Exit status of `qdisclab bpf verify` per outcome (host_verify's constants; 2 is a user error:
# an object that does not load at all). --static uses 0 and 1 only.
VERIFY_EXIT = {"accepted": 0, "rejected": 1, "unsupported": 3, "unavailable": 4}


@bpf_app.command()
def verify(
    obj_path: Annotated[Path, typer.Argument(metavar="OBJ", help="a BPF object (.bpf.o)")],
    static: Annotated[
        bool,
        typer.Option(
            "--static",
            help="run qdisclab's own load-time verifier (every program type, no root needed)",
        ),
    ] = False,
) -> None:
    """Verify OBJ: with the host kernel's verifier (root), or with --static qdisclab's own.

    Host kernel (default; nothing is attached): exit 0 accepted, 1 rejected,
    3 the kernel lacks the program type (the BPF qdisc here), 4 cannot try
    here (not root, no libbpf). --static: every program at its attach point
    through qdisclab's verifier, the log tail and summary line of a refusal;
    exit 0 accepted, 1 rejected. Either way 2 means the object does not load
    at all (a missing kfunc, an unmodelled field), with one line saying why.
    """
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True)
    if static:
        raise typer.Exit(_verify_static(obj_path, out))
    from qdisclab.bpf.host_verify import verify as host_verify

    verdict = host_verify(obj_path)
    out.print(f"{obj_path}: {verdict.outcome}: {verdict.reason}", markup=False)
    if verdict.outcome == "rejected":
        for line in verdict.log:
            out.print(f"  {line}", markup=False)
    raise typer.Exit(VERIFY_EXIT[verdict.outcome])


def _verify_static(obj_path: Path, out: Console) -> int:
    from qdisclab.bpf.objects import load_object
    from qdisclab.bpf.verifier.objects import verify_object

    verdicts = verify_object(load_object(obj_path))
    for v in verdicts:
        if v.error is not None:
            for line in v.error.report().splitlines():
                out.print(f"  {line}", markup=False)
        out.print(v.summary(), markup=False)
    refused = [v for v in verdicts if not v.accepted]
    outcome = "rejected" if refused else "accepted"
    out.print(f"{obj_path}: {outcome} by qdisclab's verifier", markup=False)
    return VERIFY_EXIT[outcome]


def _render(s: dict) -> None:
    from rich.console import Console
    from rich.table import Table

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
