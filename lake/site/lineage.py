"""A table version's lineage as a graph: commit tags (``lake.trace``) joined with the runs' OpenLineage events."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from lake.openlineage import events_uri
from lake.site.model import LineageGraph, LineageNode, table_page
from lake.storage import Storage
from lake.trace import LineageNode as TraceNode
from lake.trace import trace

MAX_FILES = 200  # landed files drawn in the graph; the page lists them all


def run_events(storage: Storage, job: str, run_id: str) -> dict[str, Any]:
    """The OpenLineage states of one run (START, COMPLETE / FAIL) with their times, from the lake's
    event files; an empty dict when the run wrote none there."""
    uri = events_uri(storage, job, run_id)
    if not storage.exists(uri):
        return {}
    states: list[tuple[str, str]] = []
    for line in storage.read_text(uri).splitlines():
        if line.strip():
            event = json.loads(line)
            states.append((str(event.get("eventType", "")), str(event.get("eventTime", ""))))
    final = states[-1][0] if states else ""
    return {"states": states, "final": final}


def lineage_graph(storage: Storage, ref: str, version: int | None = None) -> LineageGraph:
    """Nodes (table versions, then landed files) by depth from the root, and input -> output edges."""
    root = trace(storage, ref, version)
    nodes: dict[str, LineageNode] = {}
    edges: set[tuple[str, str]] = set()
    files: set[str] = set()
    runs: dict[str, dict[str, Any]] = {}

    def key(node: TraceNode) -> str:
        return f"{node.table}@{node.version}"

    def visit(node: TraceNode, depth: int) -> None:
        k = key(node)
        if k in nodes and nodes[k].depth >= depth:
            return
        if node.run_id and node.job and node.run_id not in runs:
            runs[node.run_id] = run_events(storage, node.job, node.run_id)
        state = runs.get(node.run_id or "", {}).get("final", "")
        detail = " ".join(x for x in (node.job, node.run_id, state, node.note) if x)
        zone = node.table.partition("/")[0]
        label = f"{node.table} v{node.version}"
        nodes[k] = LineageNode(k, label, zone, depth, table_page(node.table), detail, node.run_id)
        for child in node.inputs:
            edges.add((key(child), k))
            visit(child, depth + 1)
        for name in node.files:
            files.add(name)
            f = f"file:{name}"
            edges.add((f, k))
            if f not in nodes or nodes[f].depth < depth + 1:
                nodes[f] = LineageNode(f, name.rsplit("/", 1)[-1], "landed", depth + 1, None, name)

    visit(root, 0)
    deepest = max((n.depth for n in nodes.values()), default=0)
    # landed files all sit in the last column, whatever the path length that reached them
    placed = [replace(n, depth=deepest) if n.kind == "landed" else n for n in nodes.values()]
    drawn_files = {n.key for n in placed if n.kind == "landed"}
    keep = {n.key for n in placed if n.kind != "landed"} | set(sorted(drawn_files)[:MAX_FILES])
    return LineageGraph(
        root=root.table,
        version=int(root.version or 0),
        nodes=tuple(sorted((n for n in placed if n.key in keep), key=lambda n: (n.depth, n.key))),
        edges=tuple(sorted(e for e in edges if e[0] in keep and e[1] in keep)),
        landed_files=tuple(sorted(files)),
        runs=runs,
    )
