"""A backend whose annotators answer from a known label column, each with its own error rate.

It behaves like a real one (tasks persisted in the lake at push, annotations returned at pull with
stable keys), so the campaign loop, its idempotency and its cost accounting are exercised end to end;
benchmarks and the demo use it to measure what active learning and autolabelling save.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from labeling.backends.base import Annotation, Backend, BackendError, Progress, Task
from labeling.spec import CampaignSpec, SimulatedBackendSpec
from labeling.state import Batch
from lake.storage import Storage


def truth_label(value: Any, labels: tuple[str, ...]) -> str:
    """A truth value as a label name: the name itself, or an integer index into the label set."""
    if value is None:
        raise BackendError("the truth column is empty for an item sent to the simulated annotators")
    if str(value) in labels:
        return str(value)
    try:
        index = int(float(value))
    except (TypeError, ValueError) as exc:
        raise BackendError(f"truth value {value!r} is neither a label of {labels} nor an index") from exc
    if not 0 <= index < len(labels) or index != float(value):
        raise BackendError(f"truth value {value!r} is not an index into the label set {labels}")
    return labels[index]


class SimulatedBackend(Backend):
    name = "simulated"
    needs_truth = True

    def __init__(self, spec: CampaignSpec, state: dict[str, Any], storage: Storage) -> None:
        super().__init__(spec, state)
        if not isinstance(spec.backend, SimulatedBackendSpec):
            raise TypeError("SimulatedBackend needs a simulated backend spec")
        self.config = spec.backend
        self.storage = storage

    def _uri(self, batch_id: str) -> str:
        return self.storage.uri("backends", "simulated", self.spec.name, f"{batch_id}.json")

    def prepare(self) -> dict[str, Any]:
        return {"annotators": len(self._noise(self.spec.annotators_per_item))}

    def push(self, batch: Batch, tasks: list[Task]) -> dict[str, Any]:
        payload = {
            "batch_id": batch.batch_id,
            "annotators": batch.annotators,
            "tasks": [
                {"id": t.example_id, "truth": truth_label(t.truth, self.spec.labels), "purpose": t.purpose}
                for t in tasks
            ],
        }
        self.storage.write_bytes(self._uri(batch.batch_id), json.dumps(payload).encode())
        return {"tasks": len(tasks), "uri": self._uri(batch.batch_id)}

    def _noise(self, annotators: int) -> list[float]:
        noise = list(self.config.annotator_noise)
        pool = max(len(noise), annotators)
        return [noise[i % len(noise)] for i in range(pool)]

    def _rng(self, *parts: str) -> np.random.Generator:
        digest = hashlib.sha256(":".join([str(self.spec.seed), self.spec.name, *parts]).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def pull(self, batch: Batch) -> Progress:
        if not self.storage.exists(self._uri(batch.batch_id)):
            return Progress([], 0, len(batch.items), [f"batch {batch.batch_id} was never pushed"])
        payload = json.loads(self.storage.read_text(self._uri(batch.batch_id)))
        noise = self._noise(int(payload["annotators"]))
        labels = self.spec.labels
        annotations = []
        for task in payload["tasks"]:
            rng = self._rng(batch.batch_id, task["id"])
            for annotator in sorted(rng.choice(len(noise), size=int(payload["annotators"]), replace=False)):
                answer = task["truth"]
                if rng.random() < noise[annotator]:
                    answer = str(rng.choice([label for label in labels if label != answer]))
                annotations.append(
                    Annotation(
                        example_id=task["id"],
                        label=answer,
                        annotator_id=f"sim-{annotator}",
                        key=f"sim:{batch.batch_id}:{task['id']}:{annotator}",
                    )
                )
        return Progress(annotations, len(payload["tasks"]), len(batch.items))
