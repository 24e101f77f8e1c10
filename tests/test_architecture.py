"""Dependencies point one way: ``lake`` (the core) <- ``labeling`` (the add-on) <- ``lakeprep`` (the command
line and demo composed above both), with no import cycles. The rules live in ``.importlinter``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lake", "labeling", "lakeprep")
ADD_ONS = ("labeling", "lakeprep")

IMPORT_EVERY_LAKE_MODULE = """
import importlib, json, pkgutil, sys
import lake

modules = sorted(m.name for m in pkgutil.walk_packages(lake.__path__, "lake."))
loaded = {}
for name in modules:
    importlib.import_module(name)
    loaded[name] = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print(json.dumps({"modules": modules, "loaded": loaded}))
"""


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def test_import_contracts_hold() -> None:
    """``lint-imports`` checks ``.importlinter``: lake imports no labeling, the layers, no cycles."""
    result = subprocess.run(
        [_bin("lint-imports"), "--no-cache", ".importlinter"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout
    assert result.stdout.count("KEPT") == 3, result.stdout[-4000:]


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start) & modules)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_module_import_cycles() -> None:
    """No two modules need each other, counting imports inside functions (they only hide a cycle) and
    a package's ``__init__`` (which the sibling rule of ``.importlinter`` does not see), but not
    annotation-only imports under ``TYPE_CHECKING``."""
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    modules = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    assert _cycles(graph, modules) == []


def test_cycle_finder_sees_a_cycle() -> None:
    """The check above finds a cycle when there is one (a package importing its child that imports it)."""
    graph = grimp.ImportGraph()
    for importer, imported in (("p", "p.a"), ("p.a", "p"), ("p.a", "p.b"), ("p.b", "q")):
        graph.add_import(importer=importer, imported=imported)
    assert _cycles(graph, {"p", "p.a", "p.b", "q"}) == [["p", "p.a"]]


def test_importing_lake_loads_no_add_on() -> None:
    """Importing every module of the core, in a fresh interpreter, loads no module of labeling or
    lakeprep: a core-only install (a Glue job) never needs them."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_LAKE_MODULE % (ADD_ONS,)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert {"lake.cli", "lake.cli.common", "lake.maintenance", "lake.table", "lake.contracts.odcs"} <= set(
        found["modules"]
    )
    assert {name: add_ons for name, add_ons in found["loaded"].items() if add_ons} == {}


def test_console_script_composes_the_add_ons() -> None:
    """The installed ``lakeprep`` script is ``lakeprep.cli``: the core's commands and the add-ons'."""
    result = subprocess.run(
        [_bin("lakeprep"), "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={"COLUMNS": "200", "PATH": str(Path(sys.executable).parent)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    listed = [
        line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ") and line[2] != " "
    ]
    for command in ("sample", "optimize", "demo", "lineage", "site", "contract", "campaign", "deploy", "iam"):
        assert command in listed, result.stdout
