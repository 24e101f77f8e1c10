"""A labelling campaign: create, round, sync, status, export, review, run.

Every command starts from the state folded out of the event log and the labels table, does one step
of the state machine (see ``labeling.state``) and records it. Each step is safe to repeat:

* ``round`` redoes a round that crashed before planning its batch; machine labels are written once
  per round (Delta app transaction ``autolabel:<campaign>`` = last round written); a batch planned but
  not pushed is pushed on the next call, and backends never create a task twice for a batch.
* ``sync`` appends only annotations whose key is not stored yet, with the app transaction
  ``label:<campaign>:<batch>`` = annotations committed, so a re-run after a crash or a backend outage
  neither loses nor double-counts a label.

One writer per campaign at a time is assumed (as for any Delta table written without a lock service).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.compute as pc

from labeling import planner, pool, quality
from labeling.autolabel import Calibration
from labeling.backends import Backend, open_backend
from labeling.content import content_rows
from labeling.content import pin as pin_content
from labeling.export import evaluate, export_training_set, final_labels
from labeling.models import FittedModel
from labeling.planner import CampaignError, RoundResult, default_features
from labeling.report import CampaignStatus, capacity, compute_status
from labeling.selection import select_batch
from labeling.spec import BackendSpec, Budget, CampaignSpec, ContentSpec, SimulatedBackendSpec
from labeling.state import Batch, CampaignState
from labeling.store import HUMAN, LABELS_SCHEMA, MACHINE, CampaignStore, Event, autolabel_app_id
from labeling.sync import closed_payload, label_rows, new_annotations
from labeling.training import calibrate, fit_round_model, load_labelled
from lake.lineage import InputRef, RunContext
from lake.spark import persist_on_disk
from lake.storage import Storage
from lake.table import Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class BatchSync:
    batch_id: str
    new: int
    stored: int
    complete: bool
    skipped_labels: int = 0
    notes: list[str] = field(default_factory=list)
    updated: int = 0  # of ``new``: new versions of annotations edited in the backend
    deleted: int = 0  # of ``new``: annotations deleted in the backend


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
                from lake import paths
                from lake.spark import local_session

                # the JVM reads log4j2.properties from here: without it Spark logs its start-up WARN lines
                os.environ.setdefault("SPARK_CONF_DIR", str(paths.spark_defaults().parent))
                active = local_session("lakeprep-campaign")
            self._spark = active
        return self._spark

    def exists(self) -> bool:
        return any(e.kind == "created" for e in self.store.events())

    def state(self) -> CampaignState:
        events = self.store.events()
        if not any(e.kind == "created" for e in events):
            raise CampaignError(f"no campaign {self.name!r} in {self.storage.root} (create it first)")
        return CampaignState.from_events(events)

    def _context(self, command: str, **params: Any) -> RunContext:
        return RunContext.start(f"campaign-{command}", {"campaign": self.name, **params})

    def _tags(self, ctx: RunContext, spec: CampaignSpec, **extra: Any) -> dict[str, Any]:
        source = pool.source_table(self.storage, spec.source)
        return ctx.tags(
            inputs=[InputRef(spec.source, source.uri, spec.source_version)],
            extra={"campaign": spec.name, "features_version": spec.source_version, **extra},
        ).as_dict()

    def _record(self, ctx: RunContext, spec: CampaignSpec, *events: Event) -> None:
        stamped = [Event(e.key, e.kind, e.payload, e.round, e.batch_id, ctx.run_id) for e in events]
        self.store.record(stamped, self._tags(ctx, spec, events=[e.key for e in events]))

    def backend(self, state: CampaignState | None = None) -> Backend:
        """The campaign's backend, its project prepared (and remembered) on first use."""
        state = state or self.state()
        if self._backend is None:
            self._backend = open_backend(state.spec, self.storage, state.backend)
        elif state.backend and not self._backend.state:  # an injected backend learns the recorded project
            self._backend.state = dict(state.backend)
        if not state.backend:
            info = self._backend.prepare()
            ctx = self._context("backend")
            self._record(ctx, state.spec, Event("backend", "backend", info))
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
        ctx = campaign._context("create", source=source, version=version)
        events = [Event("created", "created", {"spec": spec.model_dump(mode="json")})]
        if backend_info is not None:
            events.append(Event("backend", "backend", backend_info))
        campaign._record(ctx, spec, *events)
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
        """Train on the labels so far, machine-label what is safe, pick and push the next batch."""
        state = self.state()
        spec = state.spec
        waiting = planner.unpushed(state)
        if waiting:
            for batch in waiting:
                self._push(state, batch)
            last = waiting[-1]
            return RoundResult(
                last.round,
                last.model_version,
                batch_id=last.batch_id,
                batch_items=len(last.items),
                note="pushed a batch planned before an interruption",
            )
        planner.require_closed(state)
        if state.finished:
            return RoundResult(
                max(state.trained, default=0), finished=state.finished.get("reason"), note="campaign finished"
            )
        number, _ = state.current_round()
        ctx = self._context("round", round=number)
        labelled = load_labelled(self.spark, self.storage, spec, self.store)
        model = fit_round_model(spec, labelled, number)
        calibration = calibrate(spec, model, labelled)
        threshold = calibration.threshold if calibration is not None and spec.autolabel else None
        self._record(
            ctx,
            spec,
            Event(
                f"trained:r{number}",
                "trained",
                {
                    "model_version": model.version if model else None,
                    "n_train": int((~labelled.validation).sum()),
                    "calibration": calibration.as_dict() if calibration else None,
                },
                round=number,
            ),
        )
        scored = self._scored_pool(spec, model, number)
        try:
            machine = 0
            remaining = scored
            if model is not None and threshold is not None and calibration is not None:
                machine = self._autolabel(ctx, spec, scored, model, calibration, number)
                remaining = scored.filter(scored[pool.CONFIDENCE] < threshold)
            left = remaining.count()
            reason = planner.stop_reason(spec, state, left, machine)
            if reason is not None:
                self._record(
                    ctx,
                    spec,
                    Event("finished", "finished", {"reason": reason, "round": number}, round=number),
                )
                return RoundResult(
                    number,
                    model.version if model else None,
                    calibration.as_dict() if calibration else None,
                    machine,
                    finished=reason,
                )
            size = planner.batch_size(spec, state, left)
            picked = select_batch(self.spark, self.storage, spec, remaining, model, labelled, size, number)
            batch = planner.round_batch(spec, number, model.version if model else None, picked)
        finally:
            if model is not None:
                scored.unpersist()
        self._plan_and_push(ctx, spec, batch)
        return RoundResult(
            number,
            batch.model_version,
            calibration.as_dict() if calibration else None,
            machine,
            batch.batch_id,
            len(batch.items),
        )

    def _scored_pool(self, spec: CampaignSpec, model: FittedModel | None, number: int) -> DataFrame:
        frame = pool.pool_frame(self.spark, self.storage, spec, self.store.labels, salt=number)
        if model is None:
            return frame
        return persist_on_disk(pool.score_pool(frame, model, spec.id_column))

    def _autolabel(
        self,
        ctx: RunContext,
        spec: CampaignSpec,
        scored: DataFrame,
        model: FittedModel,
        calibration: Calibration,
        number: int,
    ) -> int:
        """Machine labels for every pool item at or above the threshold, written once per round by Spark."""
        from pyspark.sql import functions as F

        assert calibration.threshold is not None
        written = self.store.autolabelled_round()
        if written is not None and written >= number:  # written before an interruption: count, do not rewrite
            labels = self.store.labels.read(self.spark)
            rows = labels.filter((F.col("source") == MACHINE) & (F.col("round") == number)).count()
        else:
            frame = pool.machine_labels(scored, spec, model.version, calibration.threshold, number)
            tags = self._tags(
                ctx,
                spec,
                round=number,
                strategy="autolabel",
                model_version=model.version,
                annotators=[f"model:{model.version}"],
                label_source=MACHINE,
                threshold=calibration.threshold,
                measured_accuracy=calibration.accuracy_above,
                accuracy_lower_bound=calibration.lower_bound,
            )
            result = self.store.labels.write(
                frame,
                schema=LABELS_SCHEMA,
                mode="append",
                tags=tags,
                run_id=ctx.run_id,
                app_transactions=[(autolabel_app_id(spec.name), number)],
            )
            rows = result.rows
        payload = {
            "rows": rows,
            "threshold": calibration.threshold,
            "model_version": model.version,
            "accuracy_above": calibration.accuracy_above,
            "lower_bound": calibration.lower_bound,
            "n_above": calibration.n_above,
        }
        self._record(ctx, spec, Event(f"autolabelled:r{number}", "autolabelled", payload, round=number))
        return rows

    def _plan_and_push(self, ctx: RunContext, spec: CampaignSpec, batch: Batch) -> None:
        """Record the plan first: a crash before the push leaves a planned batch the next call pushes."""
        planned = Event(
            f"planned:{batch.batch_id}", "planned", batch.planned_payload(), batch.round, batch.batch_id
        )
        self._record(ctx, spec, planned)
        self._push(self.state(), batch)

    def _push(self, state: CampaignState, batch: Batch) -> None:
        spec = state.spec
        backend = self.backend(state)
        truth = spec.backend.truth_column if isinstance(spec.backend, SimulatedBackendSpec) else None
        extra = [truth] if truth and backend.needs_truth else []
        shown = content_rows(self.spark, self.storage, spec, batch.ids, extra)
        truths = {i: row.get(truth) for i, row in shown.items()} if truth and extra else {}
        tasks = planner.tasks_for(spec, batch, shown, truths)
        receipt = backend.push(batch, tasks)
        ctx = self._context("push", batch=batch.batch_id)
        self._record(
            ctx, spec, Event(f"pushed:{batch.batch_id}", "pushed", receipt, batch.round, batch.batch_id)
        )

    # --------------------------------------------------------------------------------- sync
    def sync(self) -> list[BatchSync]:
        """Pull annotations of every open batch into the labels table (and, where the backend lets people
        edit or delete answers, of closed batches too, as new label versions); idempotent."""
        state = self.state()
        spec = state.spec
        results = []
        revisable = self.backend(state).revisable if state.batches else False
        for batch in state.batches.values():
            if not batch.pushed:
                if batch.is_open:
                    results.append(
                        BatchSync(
                            batch.batch_id, 0, 0, False, notes=["planned but not pushed yet: run `round`"]
                        )
                    )
                continue
            if batch.is_open or revisable:
                synced = self._sync_batch(state, spec, batch)
                if batch.is_open or synced.new:
                    results.append(synced)
        return results

    def _sync_batch(self, state: CampaignState, spec: CampaignSpec, batch: Batch) -> BatchSync:
        backend = self.backend(state)
        progress = backend.pull(batch)
        history = self.store.label_history()
        history = history.filter(pc.equal(history["batch_id"], batch.batch_id))
        found = new_annotations(progress, history, batch, spec, backend.revisable)
        rows = label_rows(spec, batch, found.fresh) + found.deleted
        total = history.num_rows + len(rows)
        ctx = self._context("sync", batch=batch.batch_id)
        if rows:
            tags = self._tags(
                ctx,
                spec,
                round=batch.round,
                batch_id=batch.batch_id,
                strategy=batch.strategy,
                model_version=batch.model_version,
                annotators=sorted(
                    {a.annotator_id for a in found.fresh} | {r["annotator_id"] for r in found.deleted}
                ),
                label_source=HUMAN,
                backend=spec.backend.kind,
                annotations=len(found.fresh) - found.updated,
                updated=found.updated,
                deleted=len(found.deleted),
            )
            self.store.append_human(rows, batch.batch_id, total, tags)
        complete = progress.complete or not batch.is_open
        if progress.complete and batch.is_open:
            payload = closed_payload(progress, batch, spec, total)
            closed = Event(f"closed:{batch.batch_id}", "closed", payload, batch.round, batch.batch_id)
            self._record(ctx, spec, closed)
        return BatchSync(
            batch.batch_id,
            len(rows),
            total,
            complete,
            len(found.unknown),
            found.notes,
            updated=found.updated,
            deleted=len(found.deleted),
        )

    def close_batch(self, batch_id: str, reason: str = "closed by hand") -> None:
        """Give up waiting on a batch: answers so far are synced and kept (and billed), the tasks nobody
        answered are withdrawn from the backend and their items go back to the pool."""
        state = self.state()
        batch = state.batches.get(batch_id)
        if batch is None or not batch.is_open:
            raise CampaignError(f"no open batch {batch_id!r}")
        if batch.pushed:
            self._sync_batch(state, state.spec, batch)
            stopped = self.backend(state).stop(batch)
        else:
            stopped = {}
        human = self.store.human_labels()
        mine = human.filter(pc.equal(human["batch_id"], batch_id))
        labelled = set(mine["example_id"].to_pylist())
        payload = {
            "annotations": mine.num_rows,
            "billed_annotations": mine.num_rows,
            "labelled_items": len(labelled),
            "unlabelled_items": sorted(set(batch.ids) - labelled),
            "reason": reason,
            **stopped,
        }
        self._record(
            self._context("close"),
            state.spec,
            Event(f"closed:{batch_id}", "closed", payload, batch.round, batch_id),
        )

    # ------------------------------------------------------------------------------- status
    def status(self) -> CampaignStatus:
        return compute_status(self.state(), self.store.human_labels())

    def annotator_agreement(self) -> pd.DataFrame:
        human = self.store.human_labels()
        return quality.annotator_agreement(human, quality.consensus(human))

    # ------------------------------------------------------------------------------- review
    def review(self, limit: int = 50, annotators: int = 2) -> RoundResult:
        """Send human-labelled items that cleanlab finds likely mislabelled back for more annotations."""
        state = self.state()
        spec = state.spec
        planner.require_closed(state)
        labelled = load_labelled(self.spark, self.storage, spec, self.store)
        if labelled.items.empty:
            raise CampaignError("no human labels to review yet")
        probs = quality.out_of_sample_probs(
            spec.model, labelled.features, labelled.labels, len(spec.labels), spec.seed
        )
        if probs is None:
            raise CampaignError("too few labels per class to estimate which are wrong")
        suspects = quality.likely_mislabelled(labelled.labels, probs)
        budget = min(limit, capacity(spec, state))
        picked = suspects[:budget]
        if len(picked) == 0:
            return RoundResult(
                max(state.trained, default=0),
                note=f"cleanlab found {len(suspects)} suspicious labels; budget allows {budget}",
            )
        ids = [str(labelled.items["example_id"][i]) for i in picked]
        batch = planner.review_batch(state, ids, annotators)
        self._plan_and_push(self._context("review", batch=batch.batch_id), spec, batch)
        return RoundResult(
            batch.round,
            batch_id=batch.batch_id,
            batch_items=len(batch.items),
            note=f"{len(suspects)} likely mislabelled",
        )

    # ------------------------------------------------------------------------------- export
    def final_labels(self) -> DataFrame:
        """One label per item: the human consensus where humans labelled it, else the machine label."""
        spec = self.state().spec
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
        ctx = self._context("export", target=out.ref)
        tags = self._tags(ctx, spec, labels_version=self.store.labels.version(), label_source="export")
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
        """Rounds and syncs until the budget, the target or the pool is exhausted (or, without ``wait``,
        until a real backend still has work outstanding)."""
        say = on_step or (lambda message: None)
        rounds = 0
        while True:
            state = self.state()
            if state.finished:
                say(f"finished: {state.finished.get('reason')}")
                break
            if state.open_batches and all(b.pushed for b in state.open_batches):
                for result in self.sync():
                    say(
                        f"sync {result.batch_id}: +{result.new} annotations ({'complete' if result.complete else 'waiting'})"
                    )
                if self.state().open_batches:
                    if not wait:
                        say("annotations outstanding: re-run with --wait to keep polling")
                        break
                    time.sleep(poll_seconds)
                    continue
            if max_rounds is not None and rounds >= max_rounds:
                break
            outcome = self.round()
            rounds += 1
            say(planner.describe(outcome))
        return self.status()
