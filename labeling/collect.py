"""Annotations coming back: ``sync`` pulls them from the backend into the labels table, ``close-batch``
gives up waiting on a batch.

Sync appends only annotations whose key is not stored yet, with the app transaction
``label:<campaign>:<batch>`` = annotations committed, so a re-run after a crash or a backend outage
neither loses nor double-counts a label. Where the backend lets people edit or delete answers, closed
batches are pulled too and the changes land as new label versions (history kept). Closing a batch by
hand syncs what came back, withdraws the unanswered tasks from the backend, bills only the answers given
(one per item and annotator, however many spans or boxes it holds; an answer marking no region counts)
and returns the unanswered items to the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from labeling.planner import CampaignError
from labeling.regions import item_consensus, region_summary
from labeling.spec import CampaignSpec
from labeling.state import Batch, CampaignState
from labeling.store import HUMAN, Event
from labeling.sync import answered, closed_payload, label_rows, new_annotations

if TYPE_CHECKING:
    from labeling.campaign import Campaign


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


def sync(campaign: Campaign) -> list[BatchSync]:
    """Pull annotations of every open batch into the labels table (and, where the backend lets people
    edit or delete answers, of closed batches too, as new label versions); idempotent."""
    state = campaign.state()
    spec = state.spec
    results = []
    revisable = campaign.backend(state).revisable if state.batches else False
    for batch in state.batches.values():
        if not batch.pushed:
            if batch.is_open:
                results.append(
                    BatchSync(batch.batch_id, 0, 0, False, notes=["planned but not pushed yet: run `round`"])
                )
            continue
        if batch.is_open or revisable:
            synced = sync_batch(campaign, state, spec, batch)
            if batch.is_open or synced.new:
                results.append(synced)
    return results


def sync_batch(campaign: Campaign, state: CampaignState, spec: CampaignSpec, batch: Batch) -> BatchSync:
    """One batch: new, edited and deleted annotations appended as label versions; closed when complete."""
    backend = campaign.backend(state)
    progress = backend.pull(batch)
    history = campaign.store.label_history()
    history = history.filter(pc.equal(history["batch_id"], batch.batch_id))
    found = new_annotations(progress, history, batch, spec, backend.revisable)
    rows = label_rows(spec, batch, found.fresh) + found.deleted
    total = history.num_rows + len(rows)
    ctx = campaign.context("sync", batch=batch.batch_id)
    if rows:
        tags = campaign.tags(
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
        campaign.store.append_human(rows, batch.batch_id, total, tags)
    complete = progress.complete or not batch.is_open
    if progress.complete and batch.is_open:
        payload = closed_payload(progress, batch, spec, total)
        closed = Event(f"closed:{batch.batch_id}", "closed", payload, batch.round, batch.batch_id)
        campaign.record(ctx, spec, closed)
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


def close_batch(campaign: Campaign, batch_id: str, reason: str = "closed by hand") -> None:
    """Give up waiting on a batch: answers so far are synced and kept (and billed), the tasks nobody
    answered are withdrawn from the backend and their items go back to the pool."""
    state = campaign.state()
    batch = state.batches.get(batch_id)
    if batch is None or not batch.is_open:
        raise CampaignError(f"no open batch {batch_id!r}")
    if batch.pushed:
        sync_batch(campaign, state, state.spec, batch)
        stopped = campaign.backend(state).stop(batch)
    else:
        stopped = {}
    human = campaign.store.human_labels()
    mine = human.filter(pc.equal(human["batch_id"], batch_id))
    labelled = set(mine["example_id"].to_pylist())  # an answer with no regions answers the item too
    answers = answered(mine)  # per (item, annotator), however many regions: what is billed
    payload = {
        "annotations": answers,
        "billed_annotations": answers,
        "labelled_items": len(labelled),
        "unlabelled_items": sorted(set(batch.ids) - labelled),
        "reason": reason,
        **stopped,
    }
    if state.spec.structured:
        payload |= region_summary(mine, item_consensus(mine))
    campaign.record(
        campaign.context("close"),
        state.spec,
        Event(f"closed:{batch_id}", "closed", payload, batch.round, batch_id),
    )
