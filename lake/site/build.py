"""Build the static site: gather each table's data, render the pages that changed, keep the others.

A state file in the output folder records, per table, the commits already read and the key of each
page (table version, metric rows, quarantine version, contract hash). A rebuild reads only the new
commits of each table and re-renders only pages whose key changed, so a lake with thousands of
versions is rebuilt in about the time it takes to list its tables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

from lake.contracts import Contract, load_contracts
from lake.paths import contracts_dir
from lake.site import campaigns as campaign_data
from lake.site.charts import bar_chart, line_chart, lineage_chart
from lake.site.features import feature_set, with_drift
from lake.site.gather import (
    Metrics,
    contract_view,
    quarantined,
    schema_view,
    summary,
    versions,
)
from lake.site.lineage import lineage_graph
from lake.site.model import (
    FeatureSetView,
    QuarantinedRecord,
    TablePage,
    TableSummary,
    VersionPoint,
    lineage_page,
    slug,
    table_page,
)
from lake.storage import Storage
from lake.table import Table, list_tables, when

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SITE_FORMAT = 3  # bump when pages change shape: every page is rendered again
STATE_FILE = "_site_state.json"  # page keys, table summaries, drift results
STATE_DIR = "_site_state"  # one file per table: the commits already read
RECENT_VERSIONS = 50  # versions listed in a table page's table (the charts show them all)
TOP_RULES = 8  # rules drawn in the failures chart (the most failing ones)
LINEAGE_ZONES = ("raw", "cleaned", "features")
CONTRACT_ZONES = ("raw", "cleaned")


@dataclass(frozen=True)
class SiteBuild:
    out: Path
    tables: int
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def _pct(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.1%" if 0 < value < 0.0005 else f"{100 * value:.1f}%"  # one bad row in thousands is not 0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,}"


def environment() -> Environment:
    """Jinja with autoescaping on for every template: any text from the lake is escaped."""
    env = Environment(
        loader=PackageLoader("lake.site", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=lambda ms: when(ms) if ms else "-", pct=_pct, num=_num, slug=slug, table_page=table_page
    )
    return env


def _write(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a killed build never leaves half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------ state
def _load_state(out: Path) -> dict[str, Any]:
    try:
        state = json.loads((out / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if state.get("format") == SITE_FORMAT else {}


def _read_points(path: Path) -> list[VersionPoint]:
    """The commits a previous build read for one table (none when there was no build)."""
    try:
        items = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [
        VersionPoint(
            **{
                **item,
                "inputs": tuple(item["inputs"]),
                "failed_dataset_rules": tuple(item["failed_dataset_rules"]),
                "anomalies": tuple(item["anomalies"]),
            }
        )
        for item in items
    ]


def _version(table: Table) -> int:
    return int(table.snapshot().version())


# ------------------------------------------------------------------------------------------ charts
def table_charts(points: Sequence[VersionPoint]) -> list[Any]:
    """Rows, quarantine share and per-rule failures over the versions that recorded row counts."""
    counted = [p for p in points if p.rows_in is not None]
    if not counted:
        return []
    xs = [p.version for p in counted]
    rows: dict[str, list[float | None]] = {
        "in": [p.rows_in for p in counted],
        "out": [p.rows_out for p in counted],
        "quarantined": [p.quarantined for p in counted],
    }
    if any(p.excluded for p in counted):
        rows["excluded"] = [p.excluded for p in counted]
    charts = [
        line_chart("rows per version", xs, rows),
        line_chart(
            "quarantine share", xs, {"quarantined": [p.quarantine_share for p in counted]}, percent=True
        ),
    ]
    totals: dict[str, int] = {}
    for p in counted:
        for rule, n in p.rule_failures.items():
            totals[rule] = totals.get(rule, 0) + n
    top = sorted(totals, key=lambda r: -totals[r])[:TOP_RULES]
    if top:
        series: dict[str, list[float | None]] = {r: [p.rule_failures.get(r, 0) for p in counted] for r in top}
        charts.append(line_chart("failing rows per rule", xs, series))
    return charts


# ------------------------------------------------------------------------------------------ build
class SiteBuilder:
    """One build of the site into ``out``; ``spark`` (optional) computes feature drift."""

    def __init__(
        self,
        storage: Storage,
        out: Path,
        contracts: Mapping[str, Contract] | None = None,
        spark: SparkSession | None = None,
    ) -> None:
        self.storage = storage
        self.out = out
        self.contracts = dict(contracts) if contracts is not None else load_contracts(contracts_dir())
        self.spark = spark
        self.env = environment()
        self.state = _load_state(out)
        self.built = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.written: list[str] = []
        self.kept: list[str] = []

    def render(self, template: str, target: str, **context: Any) -> None:
        root = "../" * target.count("/")
        html = self.env.get_template(template).render(
            root=root, lake=self.storage.root, built=self.built, **context
        )
        _write(self.out / target, html)
        self.written.append(target)

    def _fresh(self, target: str, key: str) -> bool:
        pages: dict[str, str] = self.state.setdefault("pages", {})
        if pages.get(target) == key and (self.out / target).exists():
            self.kept.append(target)
            return True
        return False

    def _done(self, target: str, key: str) -> None:
        self.state.setdefault("pages", {})[target] = key

    def build(self) -> SiteBuild:
        started = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        tables = list_tables(self.storage)
        with ThreadPoolExecutor(max_workers=8) as pool:
            current = dict(zip([t.ref for t in tables], pool.map(_version, tables), strict=True))
        metrics = Metrics(self.storage)
        quarantine_versions = {t.name: current[t.ref] for t in tables if t.zone == "quarantine"}
        cached: dict[str, Any] = self.state.get("summaries", {})
        with ThreadPoolExecutor(max_workers=8) as pool:
            summaries = list(
                pool.map(
                    lambda t: self._table(t, current[t.ref], metrics, quarantine_versions, cached.get(t.ref)),
                    tables,
                )
            )
        self.state["summaries"] = {s.ref: asdict(s) for s in summaries}
        lineage = {s.ref: lineage_page(s.ref) for s in summaries if s.zone in LINEAGE_ZONES}
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(self._lineage, [s for s in summaries if s.zone in LINEAGE_ZONES]))
        self._features([t for t in tables if t.zone == "features"], summaries)
        self.render("campaigns.html", "campaigns.html", title="labelling", campaigns=self._campaign_views())
        self.render("index.html", "index.html", title="tables", tables=summaries, lineage=lineage)
        self._forget(set(self.written) | set(self.kept), {s.ref for s in summaries})
        self.state["format"] = SITE_FORMAT
        _write(self.out / STATE_FILE, json.dumps(self.state, sort_keys=True))
        return SiteBuild(self.out, len(tables), self.written, self.kept, time.monotonic() - started)

    def _forget(self, pages: set[str], tables: set[str]) -> None:
        """Remove the pages (and kept commits) of tables that no longer exist."""
        for target in [t for t in self.state.get("pages", {}) if t not in pages]:
            (self.out / target).unlink(missing_ok=True)
            del self.state["pages"][target]
        kept = {f"{slug(ref)}.json" for ref in tables}
        for commits in (self.out / STATE_DIR).glob("*.json"):
            if commits.name not in kept:
                commits.unlink()

    def _table(
        self,
        table: Table,
        current: int,
        metrics: Metrics,
        quarantine_versions: Mapping[str, int | None],
        cached: Mapping[str, Any] | None,
    ) -> TableSummary:
        """The table's summary; its page rendered again only when its key changed. An unchanged table
        costs one snapshot load: neither its commits nor its files are read."""
        contract = self.contracts.get(table.name) if table.zone in (*CONTRACT_ZONES, "quarantine") else None
        has_quarantine = table.zone in ("raw", "cleaned", "quarantine") and table.name in quarantine_versions
        quarantine = quarantine_versions.get(table.name) if has_quarantine else None
        key = json.dumps(
            [current, metrics.rows(table.ref), quarantine, contract.fingerprint if contract else None]
        )
        target = table_page(table.ref)
        if cached is not None and cached["version"] == current and self._fresh(target, key):
            return TableSummary(**{**cached, "failed_dataset_rules": tuple(cached["failed_dataset_rules"])})
        commits = self.out / STATE_DIR / f"{slug(table.ref)}.json"
        points = versions(table, current, _read_points(commits))
        info = summary(table, current, points)
        self._table_page(table, info, points, metrics, contract, quarantine)
        _write(commits, json.dumps([asdict(p) for p in points], separators=(",", ":")))
        self._done(target, key)
        return info

    def _table_page(
        self,
        table: Table,
        info: TableSummary,
        points: Sequence[VersionPoint],
        metrics: Metrics,
        contract: Contract | None,
        quarantine_version: int | None,
    ) -> None:
        run, rates = metrics.null_rates(table.ref)
        shown = contract if table.zone in CONTRACT_ZONES else None
        hidden = [c.name for c in contract.columns if c.pii == "drop"] if contract else []
        sample: list[QuarantinedRecord] = []
        total = 0
        if quarantine_version is not None:
            store = Table(self.storage, "quarantine", table.name)
            sample, total = quarantined(store, quarantine_version, contract)
        tags = table.commit_tags(info.version) if table.zone == "features" else {}
        last = points[-1]
        page = TablePage(
            summary=info,
            contract=contract_view(shown, rates) if shown else None,
            schema=tuple(schema_view(table, info.version, rates, hidden)),
            versions=tuple(points),
            null_rates_run=run,
            quarantine=tuple(sample),
            quarantine_total=total,
            feature_set=feature_set(table, info.version, tags) if tags else None,
            contract_changed=bool(shown and last.contract_hash and last.contract_hash != shown.fingerprint),
        )
        checked = next((p for p in reversed(points) if p.rules_checked), None)
        self.render(
            "table.html",
            table_page(table.ref),
            title=table.ref,
            page=page,
            charts=table_charts(points),
            recent=list(reversed(points[-RECENT_VERSIONS:])),
            anomalies=[(p.version, a) for p in reversed(points) for a in p.anomalies][:50],
            checked=checked,
            lineage=lineage_page(table.ref) if table.zone in LINEAGE_ZONES else None,
            quarantine_ref=f"quarantine/{table.name}" if quarantine_version is not None else None,
            quarantine_page=f"quarantine-{table.name}.html",
        )

    def _lineage(self, info: TableSummary) -> None:
        target = lineage_page(info.ref)
        key = json.dumps([info.version])  # a version's lineage never changes: inputs are pinned
        if self._fresh(target, key):
            return
        graph = lineage_graph(self.storage, info.ref, info.version)
        tables = [n for n in graph.nodes if n.kind != "landed"]
        self.render(
            "lineage.html",
            target,
            title=f"lineage of {info.ref}",
            graph=graph,
            chart=lineage_chart(graph),
            tables=tables,
            runs=graph.runs,
        )
        self._done(target, key)

    def _features(self, tables: Sequence[Table], summaries: Sequence[TableSummary]) -> None:
        versions_of = {s.ref: s.version for s in summaries}
        drift_cache: dict[str, list[dict[str, Any]]] = self.state.setdefault("drift", {})
        views = []
        for table in tables:
            version = versions_of[table.ref]
            view = feature_set(table, version, table.commit_tags(version))
            view = with_drift(view, table, self.storage, drift_cache, self.spark)
            views.append(self._feature_charts(view))
        self.render("features.html", "features.html", title="feature sets", features=views)

    @staticmethod
    def _feature_charts(view: FeatureSetView) -> dict[str, Any]:
        splits = bar_chart(f"{view.ref}: rows per split", [(k, float(v)) for k, v in view.splits.items()])
        excluded = (
            bar_chart(f"{view.ref}: excluded rows", [(k, float(v)) for k, v in view.excluded.items()])
            if view.excluded
            else None
        )
        drift = (
            bar_chart(
                f"{view.ref}: PSI per feature",
                [(d.feature, d.psi) for d in view.drift],
                threshold=view.psi_threshold,
                highlight=[d.drifted for d in view.drift],
            )
            if view.drift
            else None
        )
        return {"view": view, "splits": splits, "excluded": excluded, "drift": drift}

    def _campaign_views(self) -> list[dict[str, Any]]:
        out = []
        for view in campaign_data.campaigns(self.storage):
            progress = bar_chart(
                f"{view.name}: items",
                [
                    ("by humans", float(view.human_items)),
                    ("by machine", float(view.machine_items)),
                    ("unlabelled", float(max(0, view.pool_size - view.human_items - view.machine_items))),
                ],
            )
            out.append({"view": view, "progress": progress})
        return out


def build_site(
    storage: Storage,
    out: Path,
    *,
    contracts: Mapping[str, Contract] | None = None,
    spark: SparkSession | None = None,
) -> SiteBuild:
    """Write the site for ``storage`` into ``out`` (incrementally when ``out`` holds an earlier build)."""
    return SiteBuilder(storage, out, contracts, spark).build()
