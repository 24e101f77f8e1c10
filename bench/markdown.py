"""Formatting helpers and plot colours shared by the report's sections."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {
    "lakeprep": "#1f6feb",
    "plain": "#8b949e",
    "pandera": "#d29922",
    "great_expectations": "#cf222e",
    "handwritten": "#8b949e",
}
STRATEGY_COLORS = {
    "random": "#6e7781",
    "least_confidence": "#0969da",
    "margin": "#1a7f37",
    "entropy": "#8250df",
    "k_center": "#bf3989",
    "hybrid": "#cf222e",
}


def load(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def secs(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    return f"{seconds:.3f} s" if seconds < 1 else f"{seconds:.1f} s"


def times(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}x"


def mem(value: float | None) -> str:
    return (
        "-"
        if value is None or math.isnan(value)
        else f"{value / 1024:.2f} GB"
        if value >= 1024
        else f"{value:.0f} MB"
    )


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def save(fig: Any, folder: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(folder / name, dpi=110)
    plt.close(fig)
    return name


def failed_section(result: dict[str, Any] | None, title: str) -> str | None:
    if result is None:
        return f"## {title}\n\nNot run in this run.\n"
    if "error" in result:
        return f"## {title}\n\n**Failed:** `{result['error']}`\n"
    return None


def ratio_of(summary: dict[str, Any], first: str, last: str, tier: str) -> float:
    """How a tier's median time changed from the first rule count to the last."""
    return summary[last]["tiers"][tier]["seconds"] / summary[first]["tiers"][tier]["seconds"]


def change(factor: float) -> str:
    return f"{(factor - 1) * 100:+.0f}%"


def labels_needed(reach: dict[str, Any]) -> str:
    median = reach["median_labels"]
    return (
        f"{median:.0f} ({reach['seeds_reached']}/{reach['seeds']})"
        if median is not None
        else f"- ({reach['seeds_reached']}/{reach['seeds']})"
    )


def load_note(runs: list[dict[str, Any]]) -> str:
    """The machine's 1-minute load average seen at the end of these runs (2 cores: above 2 means sharing)."""
    loads = [r["load_average"] for r in runs if "load_average" in r]
    if not loads:
        return ""
    return f"Load average (1 min) during these runs: {min(loads):.1f} to {max(loads):.1f} on 2 cores."
