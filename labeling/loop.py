"""The polling loop behind ``campaign run``: rounds and syncs until the campaign ends.

Each pass reads the state afresh, so the loop can be stopped and re-run at any point: open batches are
synced (and, with ``wait``, polled until annotators finish), then a round trains, machine-labels and
sends the next batch, until the budget, the target or the pool is exhausted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from labeling import planner
from labeling.report import CampaignStatus

if TYPE_CHECKING:
    from labeling.campaign import Campaign


def run(
    campaign: Campaign,
    *,
    wait: bool = False,
    poll_seconds: float = 30.0,
    max_rounds: int | None = None,
    on_step: Callable[[str], None] | None = None,
) -> CampaignStatus:
    """Run ``campaign`` to its end (or, without ``wait``, until a real backend still has work outstanding)."""
    say = on_step or (lambda message: None)
    rounds = 0
    while True:
        state = campaign.state()
        if state.finished:
            say(f"finished: {state.finished.get('reason')}")
            break
        if state.open_batches and all(b.pushed for b in state.open_batches):
            for result in campaign.sync():
                progress = "complete" if result.complete else "waiting"
                say(f"sync {result.batch_id}: +{result.new} annotations ({progress})")
            if campaign.state().open_batches:
                if not wait:
                    say("annotations outstanding: re-run with --wait to keep polling")
                    break
                time.sleep(poll_seconds)
                continue
        if max_rounds is not None and rounds >= max_rounds:
            break
        outcome = campaign.round()
        rounds += 1
        say(planner.describe(outcome))
    return campaign.status()
