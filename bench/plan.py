"""What a run measures: sizes, repeats and seeds of the full run and of ``--quick``.

The full run is designed for a 2-core, 24 GB machine within roughly an hour; ``--quick`` keeps the
same report shape at sizes that finish in a few minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

ROWS: dict[str, int] = {
    "50k": 50_000,
    "100k": 100_000,
    "200k": 200_000,
    "400k": 400_000,
    "1M": 1_000_000,
    "4M": 4_000_000,
    "4.4M": 4_400_000,  # validation: the real data fails the strict rules on ~10%; thinned to ~1% it is ~4M
    "10M": 10_000_000,
    "16M": 16_000_000,
}


@dataclass(frozen=True)
class Plan:
    name: str
    validation_size: str
    rule_counts: tuple[int, ...]
    validation_repeats: int
    peer_repeats: int
    feature_sizes: tuple[str, ...]
    feature_repeats: dict[str, int]
    commit_size: str
    commit_files: tuple[int, ...]
    commit_repeats: int
    pool_sizes: tuple[str, ...]
    pool_repeats: int
    pool_select: int
    al_seeds: int
    al_budget_scale: float  # fraction of each data set's full labelling budget
    autolabel_targets: tuple[float, ...] = (0.90, 0.95, 0.98)
    notes: list[str] = field(default_factory=list)

    @property
    def sizes(self) -> tuple[str, ...]:
        """Every flights lake the run needs built (validation builds its own tables from generated rows)."""
        return self.sizes_for(PLAN_FIELDS)

    def sizes_for(self, measurements: Iterable[str]) -> tuple[str, ...]:
        """The flights lakes ``measurements`` read: a run of some measurements builds only those."""
        chosen = set(measurements)
        needed = [
            *(self.feature_sizes if "featurize" in chosen else ()),
            # the learning sets read a sample of the smallest lake's features only
            *(self.feature_sizes[:1] if chosen & {"active_learning", "autolabel"} else ()),
            *((self.commit_size,) if "commit" in chosen else ()),
        ]
        return tuple(dict.fromkeys(needed))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# The plan fields each measurement reads: a re-measured step (``--only``) updates just these in the kept run.
PLAN_FIELDS: dict[str, tuple[str, ...]] = {
    "validation": ("validation_size", "rule_counts", "validation_repeats", "peer_repeats"),
    "featurize": ("feature_sizes", "feature_repeats"),
    "commit": ("commit_size", "commit_files", "commit_repeats"),
    "active_learning": ("al_seeds", "al_budget_scale"),
    "autolabel": ("al_seeds", "al_budget_scale", "autolabel_targets"),
    "pool_scoring": ("pool_sizes", "pool_repeats", "pool_select"),
}


FULL = Plan(
    name="full",
    validation_size="4.4M",
    rule_counts=(10, 25, 50),
    validation_repeats=3,
    peer_repeats=3,
    feature_sizes=("1M", "4M", "16M"),
    feature_repeats={"1M": 3, "4M": 3, "16M": 1},
    commit_size="4M",
    commit_files=(10, 30, 100, 300, 1000),
    commit_repeats=3,
    pool_sizes=("1M", "10M"),
    pool_repeats=3,
    pool_select=1000,
    al_seeds=5,
    al_budget_scale=1.0,
)

QUICK = Plan(
    name="quick",
    validation_size="100k",
    rule_counts=(10, 25, 50),
    validation_repeats=1,
    peer_repeats=1,
    feature_sizes=("100k", "400k"),
    feature_repeats={"100k": 1, "400k": 1},
    commit_size="100k",
    commit_files=(10, 100),
    commit_repeats=2,
    pool_sizes=("100k", "400k"),
    pool_repeats=1,
    pool_select=1000,
    al_seeds=2,
    al_budget_scale=0.4,
)


def limited(plan: Plan, max_repeats: int | None, skip_sizes: tuple[str, ...], seeds: int | None) -> Plan:
    """The plan with repeats capped, some sizes left out and fewer seeds; each change becomes a note."""
    notes = list(plan.notes)

    def cap(value: int) -> int:
        return min(value, max_repeats) if max_repeats else value

    feature_sizes = tuple(s for s in plan.feature_sizes if s not in skip_sizes)
    pool_sizes = tuple(s for s in plan.pool_sizes if s not in skip_sizes)
    if max_repeats:
        notes.append(f"repeats capped at {max_repeats} (`--repeats {max_repeats}`)")
    if skip_sizes:
        notes.append(f"sizes left out: {', '.join(skip_sizes)} (`--skip-sizes {','.join(skip_sizes)}`)")
    if seeds:
        notes.append(f"{seeds} seeds instead of {plan.al_seeds} (`--seeds {seeds}`)")
    return replace(
        plan,
        validation_repeats=cap(plan.validation_repeats),
        peer_repeats=cap(plan.peer_repeats),
        feature_sizes=feature_sizes,
        feature_repeats={s: cap(plan.feature_repeats[s]) for s in feature_sizes},
        commit_repeats=cap(plan.commit_repeats),
        pool_sizes=pool_sizes,
        pool_repeats=cap(plan.pool_repeats),
        al_seeds=seeds or plan.al_seeds,
        notes=notes,
    )
