"""``lakeprep lineage`` (walk commit tags back to landed files) and ``lakeprep drift`` (PSI / KS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable
from rich.tree import Tree

from lake.cli.common import LakeOption, console, table_ref
from lake.trace import LineageNode, trace


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage)
    app.command("drift")(drift)


def _label(node: LineageNode) -> str:
    rows = node.rows
    counts = ", ".join(f"{k} {v:,}" for k, v in rows.items()) if rows else ""
    parts = [f"[bold]{node.table}[/] v{node.version}"]
    if node.job:
        parts.append(f"{node.job} {node.run_id}")
    if counts:
        parts.append(f"({counts})")
    if node.note:
        parts.append(f"[yellow]{node.note}[/]")
    return "  ".join(parts)


def _tree(node: LineageNode, into: Tree, shown: set[tuple[str, int | None]]) -> None:
    key = (node.table, node.version)
    if key in shown:  # lineage is a graph: a shared input is expanded once
        into.add(f"{_label(node)}  [dim](shown above)[/]")
        return
    shown.add(key)
    branch = into.add(_label(node))
    for child in node.inputs:
        _tree(child, branch, shown)
    if node.files:
        files = branch.add(f"landed files ({len(node.files)})")
        for name in node.files[:20]:
            files.add(name)
        if len(node.files) > 20:
            files.add(f"… {len(node.files) - 20} more (see --json)")


def lineage(
    ref: Annotated[str, typer.Argument(help="zone/dataset, e.g. features/flight_delay")],
    lake: LakeOption = None,
    version: Annotated[int | None, typer.Option(help="Table version (default: current)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tree as JSON for tools")] = False,
) -> None:
    """Walk a table version's lineage back through cleaned and raw versions to the landed files."""
    table = table_ref(lake, ref)
    root = trace(table.storage, table.ref, version)
    if as_json:
        print(json.dumps(root.as_dict(), indent=2))
        return
    tree = Tree(f"lineage of {table.ref}")
    _tree(root, tree, set())
    console.print(tree)


def drift(
    ref: Annotated[str, typer.Argument(help="features/<name>")],
    from_version: Annotated[int, typer.Option("--from", help="Reference version")],
    to_version: Annotated[int, typer.Option("--to", help="Version to compare")],
    lake: LakeOption = None,
    chart: Annotated[
        Path | None, typer.Option(help="PNG path (default: drift-<name>-v<from>-v<to>.png)")
    ] = None,
) -> None:
    """Per-feature drift (PSI, KS) between two versions; exits 1 past the spec's thresholds."""
    from lake.features.drift import chart as draw
    from lake.features.drift import compare
    from lake.features.spec import version_spec
    from lake.spark import local_session

    table = table_ref(lake, ref)
    if table.zone != "features":
        raise typer.BadParameter(f"{table.ref}: drift compares versions of a features table")
    spec = version_spec(table, to_version)
    if spec is None:
        raise typer.BadParameter(f"{table.ref} v{to_version} has no recorded feature spec")
    spark = local_session("lakeprep-drift")
    with console.status(f"comparing {table.ref} v{from_version} -> v{to_version}"):
        results = compare(table.read(spark, from_version), table.read(spark, to_version), spec)
    out = RichTable(title=f"drift of {table.ref}: v{from_version} -> v{to_version}")
    for column in ("feature", "kind", "PSI", "KS", "drifted"):
        out.add_column(column, justify="left" if column in {"feature", "kind"} else "right")
    for r in sorted(results, key=lambda r: r.psi, reverse=True):
        flag = "[red]yes[/]" if r.drifted else "no"
        out.add_row(r.feature, r.kind, f"{r.psi:.4f}", "-" if r.ks is None else f"{r.ks:.4f}", flag)
    console.print(out)
    path = chart or Path(f"drift-{table.name}-v{from_version}-v{to_version}.png")
    draw(results, spec, f"{table.ref} v{from_version} -> v{to_version}", path)
    console.print(f"chart: {path}")
    drifted = [r.feature for r in results if r.drifted]
    if drifted:
        console.print(
            f"[red]{len(drifted)} feature(s) past the thresholds (PSI > {spec.drift.psi_threshold} "
            f"or KS > {spec.drift.ks_threshold}): {', '.join(drifted)}[/]"
        )
        raise typer.Exit(1)
