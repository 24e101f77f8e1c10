"""Labeling job names: deterministic per batch, so a repeated push finds the job it created before."""

from __future__ import annotations

import hashlib
import re


def job_name(campaign: str, batch_id: str) -> str:
    """A valid, deterministic labeling job name (``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``)."""
    raw = re.sub(r"[^a-zA-Z0-9]+", "-", f"lakeprep-{campaign}-{batch_id}").strip("-")
    if len(raw) <= 63:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{raw[:54].rstrip('-')}-{digest}"
