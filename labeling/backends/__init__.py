"""Annotation backends behind one interface (``labeling.backends.base.Backend``)."""

from __future__ import annotations

from typing import Any

from labeling.backends.base import Annotation, Backend, BackendError, BackendUnavailableError, Progress, Task
from labeling.spec import CampaignSpec, GroundTruthBackendSpec, LabelStudioBackendSpec, SimulatedBackendSpec
from lake.storage import Storage

__all__ = [
    "Annotation",
    "Backend",
    "BackendError",
    "BackendUnavailableError",
    "Progress",
    "Task",
    "open_backend",
]


def open_backend(spec: CampaignSpec, storage: Storage, state: dict[str, Any]) -> Backend:
    """The campaign's backend, configured from its spec and the state it recorded (project id, URIs)."""
    if isinstance(spec.backend, SimulatedBackendSpec):
        from labeling.backends.simulated import SimulatedBackend

        return SimulatedBackend(spec, state, storage)
    if isinstance(spec.backend, LabelStudioBackendSpec):
        from labeling.backends.label_studio import LabelStudioBackend

        return LabelStudioBackend(spec, state, storage=storage)
    if isinstance(spec.backend, GroundTruthBackendSpec):
        from labeling.backends.ground_truth import GroundTruthBackend

        return GroundTruthBackend(spec, state, storage=storage)
    raise TypeError(f"unknown backend {spec.backend!r}")
