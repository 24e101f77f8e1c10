"""Consensus of span and box labels: the regions a majority of an item's annotators drew.

Two spans agree when they have the same label and the same offsets; two boxes when they have the same
label and overlap with an intersection over union of at least ``min_iou`` (0.5, the PASCAL VOC rule).
Each annotator's regions are grouped greedily (most agreed-with first); a group drawn by more than half
of the item's annotators is kept, as the first-drawn region of the group (spans) or the mean box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

SPAN, BOX = ("span_start", "span_end"), ("box_left", "box_top", "box_width", "box_height")


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


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (left, top, width, height) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _regions(human: pa.Table) -> list[Region]:
    """Current human regions (spans or boxes) of a labels table; rows without a region are left out."""
    out = []
    for row in human.to_pylist():
        columns = SPAN if row.get("span_start") is not None else BOX
        if row.get(columns[0]) is None:
            continue
        geometry = tuple(float(row[c]) for c in columns)
        out.append(Region(row["example_id"], row["label"], row["annotator_id"], geometry))
    return out


def _same(a: Region, b: Region, min_iou: float) -> bool:
    if a.label != b.label:
        return False
    if len(a.geometry) == 2:
        return a.geometry == b.geometry
    return iou(a.geometry, b.geometry) >= min_iou


def region_consensus(human: pa.Table, min_iou: float = 0.5) -> list[AgreedRegion]:
    """The regions more than half of each item's annotators agree on (see the module docstring)."""
    by_item: dict[str, list[Region]] = {}
    for region in _regions(human):
        by_item.setdefault(region.example_id, []).append(region)
    agreed = []
    for item, regions in sorted(by_item.items()):
        people = {r.annotator_id for r in regions}
        left = list(regions)
        while left:
            seed = max(left, key=lambda r: sum(_same(r, o, min_iou) for o in left))
            group: dict[str, Region] = {seed.annotator_id: seed}
            for other in left:
                if other.annotator_id not in group and _same(seed, other, min_iou):
                    group[other.annotator_id] = other
            left = [r for r in left if r not in group.values()]
            if len(group) * 2 > len(people):
                agreed.append(_merged(item, seed, list(group.values()), len(people)))
    return agreed


def _merged(item: str, seed: Region, group: list[Region], people: int) -> AgreedRegion:
    geometry: tuple[Any, ...] = seed.geometry
    if len(seed.geometry) == 4:
        geometry = tuple(sum(r.geometry[i] for r in group) / len(group) for i in range(4))
    return AgreedRegion(item, seed.label, geometry, len(group), people)
