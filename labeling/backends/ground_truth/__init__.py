"""SageMaker Ground Truth: one labeling job per batch, on the built-in task that fits the campaign.

* ``tasks``: the built-in task types (text and image classification, single and multi-label, bounding
  box, named entities), their worker templates (``templates/``) and per-region Lambdas;
* ``manifests``: input lines and the output manifest parsed per task type;
* ``backend``: prepare / push / pull against SageMaker and S3.

AWS closed Ground Truth to new customers in 2026; accounts that already used it keep it.
"""

from __future__ import annotations

from labeling.backends.ground_truth.backend import GroundTruthBackend
from labeling.backends.ground_truth.manifests import LABEL_ATTRIBUTE
from labeling.backends.ground_truth.names import job_name
from labeling.backends.ground_truth.tasks import (
    LAMBDA_ACCOUNTS,
    TASKS,
    BuiltinTask,
    builtin_lambdas,
    builtin_task,
)

__all__ = [
    "LABEL_ATTRIBUTE",
    "LAMBDA_ACCOUNTS",
    "TASKS",
    "BuiltinTask",
    "GroundTruthBackend",
    "builtin_lambdas",
    "builtin_task",
    "job_name",
]
