"""Consensus of span and box labels: the regions a majority of an item's annotators drew.

Two spans agree when they have the same label and the same offsets; two boxes when they have the same
label and overlap with an intersection over union of at least ``min_iou`` (0.5, the PASCAL VOC rule).
Each annotator's regions are grouped greedily (most agreed-with first); a group drawn by more than half
of the item's annotators is kept, as the first-drawn region of the group (spans) or the mean box.

An annotator who looked at an item and found nothing to mark answered too: that answer is a labels row
with the label ``NO_REGIONS`` and no geometry. It counts as a vote (against every region) and as an
answer to bill, and an item only such answers reached has an empty consensus, not a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

SPAN, BOX = ("span_start", "span_end"), ("box_left", "box_top", "box_width", "box_height")
NO_REGIONS = "(no regions)"  # the label of an answer that marks nothing; never a label of the label set


@dataclass(frozen=True)
class Region:
    example_id: str
    label: str
    annotator_id: str
    geometry: tuple[float, ...]  # (start, end) or (left, top, width, height)


@dataclass(frozen=True)
class AgreedRegion:
    example_id: str
    label: str
    geometry: tuple[float, ...]
    votes: int  # annotators who drew it
    annotators: int  # annotators of the item


@dataclass(frozen=True)
class ItemConsensus:
    """One answered item: the regions most of its annotators agree on (possibly none) and how many of
    its annotators gave exactly that answer."""

    example_id: str
    regions: list[AgreedRegion]
    annotators: list[str]
    exact: list[str]  # the annotators whose regions are exactly the agreed ones

    @property
    def agreement(self) -> float:
        """Share of the item's annotators who gave exactly the consensus answer."""
        return len(self.exact) / len(self.annotators)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (left, top, width, height) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _regions(human: pa.Table) -> tuple[dict[str, set[str]], list[Region]]:
    """Who answered each item (no-regions answers included), and the current human regions (spans or
    boxes) of a labels table; rows without a region are left out of the second."""
    people: dict[str, set[str]] = {}
    out = []
    for row in human.to_pylist():
        if row["label"] is None:
            continue
        people.setdefault(row["example_id"], set()).add(row["annotator_id"])
        columns = SPAN if row.get("span_start") is not None else BOX
        if row.get(columns[0]) is None:
            continue
        geometry = tuple(float(row[c]) for c in columns)
        out.append(Region(row["example_id"], row["label"], row["annotator_id"], geometry))
    return people, out


def _same(a: Region, b: Region, min_iou: float) -> bool:
    if a.label != b.label:
        return False
    if len(a.geometry) == 2:
        return a.geometry == b.geometry
    return iou(a.geometry, b.geometry) >= min_iou


def item_consensus(human: pa.Table, min_iou: float = 0.5) -> list[ItemConsensus]:
    """Every answered item with the regions more than half of its annotators agree on (see the module
    docstring), in item order."""
    people, regions = _regions(human)
    by_item: dict[str, list[Region]] = {item: [] for item in people}
    for region in regions:
        by_item[region.example_id].append(region)
    out = []
    for item, drawn in sorted(by_item.items()):
        voters = len(people[item])
        agreed, groups, left = [], [], list(drawn)
        while left:
            seed = max(left, key=lambda r: sum(_same(r, o, min_iou) for o in left))
            group: dict[str, Region] = {seed.annotator_id: seed}
            for other in left:
                if other.annotator_id not in group and _same(seed, other, min_iou):
                    group[other.annotator_id] = other
            left = [r for r in left if r not in group.values()]
            if len(group) * 2 > voters:
                agreed.append(_merged(item, seed, list(group.values()), voters))
                groups.append(group)
        kept = [r for g in groups for r in g.values()]
        exact = [
            who
            for who in people[item]
            if all(who in g for g in groups) and all(r in kept for r in drawn if r.annotator_id == who)
        ]
        out.append(ItemConsensus(item, agreed, sorted(people[item]), sorted(exact)))
    return out


def region_consensus(human: pa.Table, min_iou: float = 0.5) -> list[AgreedRegion]:
    """The regions more than half of each item's annotators agree on (see the module docstring)."""
    return [region for item in item_consensus(human, min_iou) for region in item.regions]


def region_summary(human: pa.Table, items: list[ItemConsensus]) -> dict[str, int]:
    """What span or box answers came to (``items``: their consensus): regions drawn, regions most
    annotators agree on, items every annotator answered alike, items answered with no region at all."""
    return {
        "regions": sum(label != NO_REGIONS for label in human["label"].to_pylist()),
        "agreed_regions": sum(len(i.regions) for i in items),
        "unanimous_items": sum(i.agreement == 1.0 for i in items),
        "items_without_regions": sum(not i.regions for i in items),
    }


def annotator_agreement(items: list[ItemConsensus]) -> pd.DataFrame:
    """Per annotator: answers given, items shared with others, and how often their answer was exactly
    the consensus on those (the columns of ``labeling.quality.annotator_agreement``)."""
    stats: dict[str, list[int]] = {}
    for item in items:
        for who in item.annotators:
            answers, shared, agreed = stats.setdefault(who, [0, 0, 0])
            many = len(item.annotators) > 1
            stats[who] = [answers + 1, shared + many, agreed + (many and who in item.exact)]
    return pd.DataFrame(
        [
            {
                "annotator_id": who,
                "labels": n,
                "shared": shared,
                "agreement": agreed / shared if shared else float("nan"),
            }
            for who, (n, shared, agreed) in sorted(stats.items())
        ],
        columns=["annotator_id", "labels", "shared", "agreement"],
    )


def _merged(item: str, seed: Region, group: list[Region], people: int) -> AgreedRegion:
    geometry: tuple[Any, ...] = seed.geometry
    if len(seed.geometry) == 4:
        geometry = tuple(sum(r.geometry[i] for r in group) / len(group) for i in range(4))
    return AgreedRegion(item, seed.label, geometry, len(group), people)
