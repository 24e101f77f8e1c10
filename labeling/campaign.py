"""A labelling campaign: create, round, sync, status, export, review, run.

``Campaign`` holds what every command shares - the lake, the event log, Spark and the backend - and
creates campaigns. Every command starts from the state folded out of the event log and the labels
table (``labeling.state``), does one step and records it as events; each step is safe to repeat.
The steps live in their own modules, in the order a campaign goes through them:

* ``labeling.planner``: every decision, as pure functions of the spec and the state;
* ``labeling.rounds``: train, machine-label (``labeling.machine``), plan and push the next batch;
* ``labeling.collect``: sync annotations back, close a batch by hand;
* ``labeling.review``: send likely mislabelled items back to people;
* ``labeling.loop``: the polling loop of ``campaign run``;
* ``labeling.report``: status figures and their formatting.

One writer per campaign at a time is assumed (as for any Delta table written without a lock service).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labeling import collect, loop, planner, pool, quality, regions, review, rounds
from labeling.backends import Backend, open_backend
from labeling.collect import BatchSync
from labeling.content import content_rows
from labeling.content import pin as pin_content
from labeling.export import evaluate, export_training_set, final_labels, region_labels
from labeling.planner import CampaignError, RoundResult, default_features
from labeling.report import CampaignStatus, compute_status
from labeling.spec import BackendSpec, Budget, CampaignSpec, ContentSpec, SimulatedBackendSpec
from labeling.state import Batch, CampaignState
from labeling.store import CampaignStore, Event
from labeling.training import load_labelled
from lake.lineage import InputRef, RunContext
from lake.storage import Storage
from lake.table import Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class Campaign:
    """One campaign over the lake. Spark is started only by the commands that need it."""

    def __init__(
        self,
        storage: Storage,
        name: str,
        *,
        spark: SparkSession | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.storage = storage
        self.name = name
        self.store = CampaignStore(storage, name)
        self._spark = spark
        self._backend = backend

    # ----------------------------------------------------------------------------- plumbing
    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from pyspark.sql import SparkSession

            active = SparkSession.getActiveSession()
            if active is None:
                from lake.spark import local_session

                active = local_session("lakeprep-campaign")  # quiet: it reads the repo's log4j2.properties
            self._spark = active
        return self._spark

    def exists(self) -> bool:
        return any(e.kind == "created" for e in self.store.events())

    def state(self) -> CampaignState:
        events = self.store.events()
        if not any(e.kind == "created" for e in events):
            raise CampaignError(f"no campaign {self.name!r} in {self.storage.root} (create it first)")
        return CampaignState.from_events(events)

    def context(self, command: str, **params: Any) -> RunContext:
        return RunContext.start(f"campaign-{command}", {"campaign": self.name, **params})

    def tags(self, ctx: RunContext, spec: CampaignSpec, **extra: Any) -> dict[str, Any]:
        source = pool.source_table(self.storage, spec.source)
        return ctx.tags(
            inputs=[InputRef(spec.source, source.uri, spec.source_version)],
            extra={"campaign": spec.name, "features_version": spec.source_version, **extra},
        ).as_dict()

    def record(self, ctx: RunContext, spec: CampaignSpec, *events: Event) -> None:
        stamped = [Event(e.key, e.kind, e.payload, e.round, e.batch_id, ctx.run_id) for e in events]
        self.store.record(stamped, self.tags(ctx, spec, events=[e.key for e in events]))

    def backend(self, state: CampaignState | None = None) -> Backend:
        """The campaign's backend, its project prepared (and remembered) on first use."""
        state = state or self.state()
        if self._backend is None:
            self._backend = open_backend(state.spec, self.storage, state.backend)
        elif state.backend and not self._backend.state:  # an injected backend learns the recorded project
            self._backend.state = dict(state.backend)
        if not state.backend:
            info = self._backend.prepare()
            ctx = self.context("backend")
            self.record(ctx, state.spec, Event("backend", "backend", info))
            self._backend.state = dict(info)
            state.backend = dict(info)
        return self._backend

    # ------------------------------------------------------------------------------- create
    @classmethod
    def create(
        cls,
        storage: Storage,
        *,
        name: str,
        source: str,
        id_column: str,
        content: ContentSpec,
        labels: Sequence[str],
        backend: BackendSpec,
        budget: Budget,
        feature_columns: Sequence[str] | None = None,
        source_version: int | None = None,
        pool_filter: str | None = None,
        spark: SparkSession | None = None,
        backend_client: Backend | None = None,
        prepare_backend: bool = True,
        **settings: Any,
    ) -> Campaign:
        """Define a campaign on a pinned version of a lake table (re-running with the same definition is a no-op)."""
        campaign = cls(storage, name, spark=spark, backend=backend_client)
        table = pool.source_table(storage, source)
        if not table.exists():
            raise CampaignError(f"no table {source} in {storage.root}")
        version = table.version() if source_version is None else source_version
        assert version is not None
        schema = table.arrow_schema(version)
        truth = backend.truth_column if isinstance(backend, SimulatedBackendSpec) else None
        if feature_columns is None:
            feature_columns = default_features(
                schema, [id_column, *(c for c in [truth] if c), "label", "split"]
            )
        missing = [
            c for c in {id_column, *feature_columns, *([truth] if truth else [])} if c not in schema.names
        ]
        if missing:
            raise CampaignError(f"{source}@{version} has no column(s) {sorted(missing)}")
        existing = campaign.state().spec if campaign.exists() else None
        if existing is not None and not content.versions:  # compare at the versions pinned then
            content = content.model_copy(update={"versions": existing.content.versions})
        draft = CampaignSpec(
            name=name,
            source=source,
            source_version=version,
            id_column=id_column,
            content=pin_content(storage, content, source, version, id_column),
            labels=tuple(labels),
            feature_columns=tuple(feature_columns),
            pool_filter=pool_filter,
            pool_size=0,
            backend=backend,
            budget=budget,
            **settings,
        )
        if existing is not None:
            if existing.model_copy(update={"pool_size": 0}) != draft:
                pinned = (
                    f" (it is pinned to {source}@{existing.source_version})"
                    if existing.source_version != version
                    else ""
                )
                raise CampaignError(f"campaign {name!r} exists with a different definition{pinned}")
            return campaign
        backend_info: dict[str, Any] | None = None
        if prepare_backend:  # credentials and the server first: nothing recorded, no Spark, if they fail
            client = campaign._backend or open_backend(draft, storage, {})
            backend_info = client.prepare()
            client.state = dict(backend_info)
            campaign._backend = client
        spec = draft.model_copy(update={"pool_size": campaign._count_pool(draft)})
        ctx = campaign.context("create", source=source, version=version)
        events = [Event("created", "created", {"spec": spec.model_dump(mode="json")})]
        if backend_info is not None:
            events.append(Event("backend", "backend", backend_info))
        campaign.record(ctx, spec, *events)
        return campaign

    def _count_pool(self, spec: CampaignSpec) -> int:
        from pyspark.sql import functions as F

        frame = pool.read_source(self.spark, self.storage, spec)
        row = frame.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct(spec.id_column).alias("ids")).first()
        assert row is not None
        if row["rows"] != row["ids"]:
            raise CampaignError(
                f"{spec.source}: {spec.id_column} is not unique in the pool ({row['rows']:,} rows, {row['ids']:,} ids)"
            )
        return int(row["rows"])

    # -------------------------------------------------------------------------------- round
    def round(self) -> RoundResult:
        """Train on the labels so far, machine-label what is safe, pick and push the next batch
        (``labeling.rounds``)."""
        return rounds.run_round(self)

    def plan_and_push(self, ctx: RunContext, spec: CampaignSpec, batch: Batch) -> None:
        """Record the plan first: a crash before the push leaves a planned batch the next call pushes."""
        planned = Event(
            f"planned:{batch.batch_id}", "planned", batch.planned_payload(), batch.round, batch.batch_id
        )
        self.record(ctx, spec, planned)
        self.push(self.state(), batch)

    def push(self, state: CampaignState, batch: Batch) -> None:
        """Send a planned batch to the backend with what people see, and record the receipt."""
        spec = state.spec
        backend = self.backend(state)
        truth = spec.backend.truth_column if isinstance(spec.backend, SimulatedBackendSpec) else None
        extra = [truth] if truth and backend.needs_truth else []
        shown = content_rows(self.spark, self.storage, spec, batch.ids, extra)
        truths = {i: row.get(truth) for i, row in shown.items()} if truth and extra else {}
        tasks = planner.tasks_for(spec, batch, shown, truths)
        receipt = backend.push(batch, tasks)
        ctx = self.context("push", batch=batch.batch_id)
        self.record(
            ctx, spec, Event(f"pushed:{batch.batch_id}", "pushed", receipt, batch.round, batch.batch_id)
        )

    # --------------------------------------------------------------------------------- sync
    def sync(self) -> list[BatchSync]:
        """Pull annotations of every open batch into the labels table (``labeling.collect``); idempotent."""
        return collect.sync(self)

    def close_batch(self, batch_id: str, reason: str = "closed by hand") -> None:
        """Give up waiting on a batch (``labeling.collect.close_batch``)."""
        collect.close_batch(self, batch_id, reason)

    # ------------------------------------------------------------------------------- status
    def status(self) -> CampaignStatus:
        return compute_status(self.state(), self.store.human_labels())

    def annotator_agreement(self) -> pd.DataFrame:
        human = self.store.human_labels()
        if self.state().spec.structured:  # an answer is a set of regions, compared as a whole
            return regions.annotator_agreement(regions.item_consensus(human))
        return quality.annotator_agreement(human, quality.consensus(human))

    # ------------------------------------------------------------------------------- review
    def review(self, limit: int = 50, annotators: int = 2) -> RoundResult:
        """Send human-labelled items that cleanlab finds likely mislabelled back for more annotations."""
        return review.review(self, limit, annotators)

    # ------------------------------------------------------------------------------- export
    def final_labels(self) -> DataFrame:
        """One label per item: the human consensus where humans labelled it, else the machine label (a span
        or box campaign: the regions most of an item's annotators drew, ``labeling.export``)."""
        spec = self.state().spec
        if spec.structured:
            return region_labels(self.spark, spec, self.store)
        if spec.consensus == "cleanlab":
            items = load_labelled(self.spark, self.storage, spec, self.store).items
        else:
            items = quality.consensus(self.store.human_labels())
        return final_labels(self.spark, spec, self.store, items)

    def export(self, target: str | None = None) -> tuple[Table, int]:
        """The training set (pinned features + final labels + provenance) as a Delta table."""
        spec = self.state().spec
        zone, _, table_name = (target or f"labels/{spec.name}_training").partition("/")
        out = Table(self.storage, zone, table_name)  # type: ignore[arg-type,unused-ignore]
        ctx = self.context("export", target=out.ref)
        tags = self.tags(ctx, spec, labels_version=self.store.labels.version(), label_source="export")
        result = export_training_set(
            self.spark, self.storage, spec, self.final_labels(), out, tags, ctx.run_id
        )
        return out, result.rows

    def evaluate(self, truth_column: str) -> dict[str, Any]:
        """Accuracy of the human and machine labels against a known label column (benchmarks, the demo)."""
        spec = self.state().spec
        return evaluate(self.spark, self.storage, spec, self.final_labels(), truth_column)

    # ---------------------------------------------------------------------------------- run
    def run(
        self,
        *,
        wait: bool = False,
        poll_seconds: float = 30.0,
        max_rounds: int | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> CampaignStatus:
        """Rounds and syncs until the budget, the target or the pool is exhausted (``labeling.loop``)."""
        return loop.run(self, wait=wait, poll_seconds=poll_seconds, max_rounds=max_rounds, on_step=on_step)
