"""What a campaign is: the source table, what humans see, the label set, the model, the budget.

The spec is fixed at ``create`` and stored in the campaign's state log, so every later command
(on any machine) works from the same definition. Nothing secret belongs here: the Label Studio
token and AWS credentials come from the environment when a backend is opened.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator

from labeling.autolabel import validation_per_label
from lake.documents import StrictModel

StrategyName = Literal["random", "least_confidence", "margin", "entropy", "k_center", "hybrid"]
STRATEGIES: tuple[StrategyName, ...] = (
    "random",
    "least_confidence",
    "margin",
    "entropy",
    "k_center",
    "hybrid",
)
ColdStart = Literal["stratified", "diverse", "random"]
ContentKind = Literal["text", "image", "record"]
ModelKind = Literal["logistic_regression", "gradient_boosting", "random_forest"]
Consensus = Literal["majority", "cleanlab"]
# what a person gives per item: one class, several classes, boxes on an image, spans of a text
TaskType = Literal["classification", "multi_label", "bounding_box", "named_entity"]
STRUCTURED_TASKS: tuple[TaskType, ...] = ("bounding_box", "named_entity")  # several regions per item
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
RESERVED_NAMES = frozenset({"campaigns"})


class ModelSpec(StrictModel):
    """A scikit-learn classifier with calibrated probabilities (the confidences autolabelling trusts).

    ``temperature`` (the default) divides the model's logits by one fitted temperature: the prediction is
    the model's own, only its confidence is rescaled. ``sigmoid`` and ``isotonic`` calibrate each class
    one-vs-rest and renormalise, which can change the predicted class: on multi-class sets (olive oils,
    fishing mode) that cost 4-6 points of accuracy at a few hundred labels."""

    kind: ModelKind = "logistic_regression"
    params: dict[str, float | int | str | bool | None] = Field(default_factory=dict)
    calibration: Literal["temperature", "sigmoid", "isotonic", "none"] = "temperature"


class Lookup(StrictModel):
    """A readable name for a code in a record: ``column``'s value looked up in another lake table
    (e.g. carrier ``UA`` -> ``United Air Lines Inc.`` from ``cleaned/airlines``), shown as ``name (code)``."""

    column: str
    table: str  # <zone>/<table>, read at the version pinned at create
    key: str  # its column matching ``column``
    value: str  # its column shown to people


class ContentSpec(StrictModel):
    """What a person looks at: one text column, one image column (a lake path, ``s3://`` or http(s) URI),
    or a record (several columns, each with its contract description and a readable value).

    The columns come from the campaign's source, or from ``table`` (e.g. ``cleaned/flights``) joined on
    ``key`` = the campaign's id: feature tables hold vectors and indexes, which are for the model only.
    """

    kind: ContentKind = "text"
    columns: tuple[str, ...]
    table: str | None = None
    key: str | None = (
        None  # column or SQL expression of ``table`` giving the campaign id (default: the id column)
    )
    lookups: tuple[Lookup, ...] = ()
    versions: dict[str, int] = Field(default_factory=dict)  # table -> version pinned at create
    descriptions: dict[str, str] = Field(
        default_factory=dict
    )  # column -> description (from the table schema)

    @model_validator(mode="after")
    def _shape(self) -> ContentSpec:
        if not self.columns:
            raise ValueError("the content needs at least one column")
        if self.kind in ("text", "image") and len(self.columns) != 1:
            raise ValueError(
                f"a {self.kind} campaign shows exactly one column (use kind 'record' for several)"
            )
        unknown = [lookup.column for lookup in self.lookups if lookup.column not in self.columns]
        if unknown:
            raise ValueError(f"lookups name columns that are not shown: {unknown}")
        return self

    def lookup(self, column: str) -> Lookup | None:
        return next((item for item in self.lookups if item.column == column), None)


class Budget(StrictModel):
    """Stop sending items to humans at whichever limit comes first."""

    max_items: int | None = Field(default=None, ge=1)
    max_money: float | None = Field(default=None, gt=0)
    cost_per_label: float = Field(default=0.08, ge=0)  # per human annotation (one annotator, one item)
    currency: str = "USD"

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if self.max_items is None and self.max_money is None:
            raise ValueError("give a budget: max_items, max_money or both")
        return self


class SimulatedBackendSpec(StrictModel):
    """Answers from a known label column; each simulated annotator errs with its own probability."""

    kind: Literal["simulated"] = "simulated"
    truth_column: str
    annotator_noise: tuple[float, ...] = (0.0,)

    @field_validator("annotator_noise")
    @classmethod
    def _noise_range(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 <= v < 1 for v in value):
            raise ValueError("annotator noise must be one or more values in [0, 1)")
        return value


class LabelStudioBackendSpec(StrictModel):
    """A Label Studio server; the token comes from $LAKEPREP_LABEL_STUDIO_TOKEN or $LABEL_STUDIO_API_KEY."""

    kind: Literal["label_studio"] = "label_studio"
    url: str
    project_title: str | None = None
    page_size: int = Field(default=100, ge=1, le=1000)
    import_chunk: int = Field(default=500, ge=1)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        """The spec is stored in the lake: a password in the URL would be stored with it."""
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ValueError(f"Label Studio URL must be http(s)://host[:port]: {value!r}")
        if parsed.username or parsed.password:
            raise ValueError(
                "put no credentials in the Label Studio URL: the token comes from the environment"
            )
        return value.rstrip("/")


class GroundTruthBackendSpec(StrictModel):
    """SageMaker Ground Truth: manifests on S3, one labeling job per batch (AWS credentials from the chain)."""

    kind: Literal["ground_truth"] = "ground_truth"
    s3_prefix: str
    role_arn: str
    workteam_arn: str
    region: str = "us-east-1"
    task_title: str = "Classify the item"
    task_description: str = "Choose the label that fits the item best."
    task_time_limit_seconds: int = Field(default=300, ge=30, le=28800)
    task_availability_seconds: int = Field(default=864000, ge=60, le=3456000)
    price_usd: float | None = None  # only for the public (Mechanical Turk) workforce
    # the built-in task; always the campaign's ``task_type`` (CampaignSpec keeps the two equal)
    task_type: TaskType = "classification"

    @field_validator("s3_prefix")
    @classmethod
    def _s3(cls, value: str) -> str:
        if not value.startswith("s3://"):
            raise ValueError("s3_prefix must be an s3:// URI")
        return value.rstrip("/")


BackendSpec = Annotated[
    SimulatedBackendSpec | LabelStudioBackendSpec | GroundTruthBackendSpec, Field(discriminator="kind")
]


class CampaignSpec(StrictModel):
    name: str
    source: str  # <zone>/<table>
    source_version: int
    id_column: str
    content: ContentSpec
    labels: tuple[str, ...]
    instructions: str = ""  # shown to annotators before they start (Label Studio, Ground Truth)
    label_descriptions: dict[str, str] = Field(default_factory=dict)  # label -> hint shown on the choice
    prelabel_above: float | None = Field(default=None, gt=0, le=1)  # show the model's answer only above this
    feature_columns: tuple[str, ...]
    pool_filter: str | None = None  # Spark SQL predicate choosing the pool, e.g. "split = 'train'"
    pool_size: int = Field(ge=0)
    backend: BackendSpec
    task_type: TaskType = "classification"  # each backend refuses one its content cannot take
    strategy: StrategyName = "hybrid"
    cold_start: ColdStart = "stratified"
    batch_size: int = Field(default=100, ge=1)
    budget: Budget
    target_accuracy: float = Field(default=0.95, gt=0, lt=1)
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1)
    validation_fraction: float = Field(default=0.2, ge=0, lt=1)
    min_validation: int = Field(default=30, ge=1)
    annotators_per_item: int = Field(default=1, ge=1, le=9)
    consensus: Consensus = "majority"
    model: ModelSpec = Field(default_factory=ModelSpec)
    autolabel: bool = True
    candidate_factor: int = Field(default=10, ge=1)
    seed: int = 0

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value) or value in RESERVED_NAMES:
            raise ValueError(
                f"campaign name {value!r}: lower-case letters, digits, '-' and '_' (not {sorted(RESERVED_NAMES)})"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _display_columns(cls, data: Any) -> Any:
        """Specs recorded before ``content`` existed named ``display_columns`` and ``display_kind``."""
        if isinstance(data, dict) and "display_columns" in data and "content" not in data:
            data = dict(data)
            kind = data.pop("display_kind", "text")
            columns = tuple(data.pop("display_columns"))
            data["content"] = {"kind": "record" if kind == "fields" else kind, "columns": columns}
        return data

    @model_validator(mode="before")
    @classmethod
    def _one_task_type(cls, data: Any) -> Any:
        """The task type is said once: the campaign's, copied into a Ground Truth backend (which builds its
        job from it); a spec giving it only on the backend (as before the campaign had one) takes it from
        there; two different values are refused. A machine label is a class, not a set of spans or boxes:
        a span or box campaign is never labelled by machine, whatever ``autolabel`` says (specs recorded
        with it on included)."""
        if not isinstance(data, dict):
            return data
        data = _task_type_said_once(data)
        if data.get("task_type") in STRUCTURED_TASKS and data.get("autolabel", True):
            data = {**data, "autolabel": False}
        return data

    @field_validator("labels")
    @classmethod
    def _label_set(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) < 2 or len(set(value)) != len(value) or any(not v for v in value):
            raise ValueError("the label set needs at least two distinct, non-empty labels")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSpec:
        if not self.feature_columns:
            raise ValueError("the model needs at least one feature column")
        if self.id_column in self.feature_columns:
            raise ValueError(f"the id column {self.id_column!r} cannot be a feature")
        if (
            isinstance(self.backend, SimulatedBackendSpec)
            and self.backend.truth_column in self.feature_columns
        ):
            raise ValueError(f"the truth column {self.backend.truth_column!r} would leak into the features")
        unknown = sorted(set(self.label_descriptions) - set(self.labels))
        if unknown:
            raise ValueError(f"label descriptions for labels not in the label set: {unknown}")
        return self

    @property
    def structured(self) -> bool:
        """Each answer is a set of regions (boxes, spans), each a label row with its geometry in ``detail``."""
        return self.task_type in STRUCTURED_TASKS

    @property
    def validation_per_label(self) -> int:
        """Validation items every label must show before any machine label (``validation_per_label``)."""
        return validation_per_label(self.target_accuracy, self.confidence_level, self.min_validation)

    @property
    def human_cost_per_item(self) -> float:
        return self.budget.cost_per_label * self.annotators_per_item

    def label_index(self, label: str) -> int:
        return self.labels.index(label)


def _task_type_said_once(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with one task type, on the campaign and on a Ground Truth backend alike."""
    backend = data.get("backend")
    if isinstance(backend, GroundTruthBackendSpec):
        given = backend.task_type if "task_type" in backend.model_fields_set else None
    elif isinstance(backend, dict) and backend.get("kind") == "ground_truth":
        given = backend.get("task_type")
    else:
        return data
    wanted = data.get("task_type")
    if wanted is not None and given is not None and wanted != given:
        raise ValueError(f"task type {wanted!r} of the campaign, {given!r} of its Ground Truth backend")
    task_type = wanted or given or "classification"
    if isinstance(backend, GroundTruthBackendSpec):
        backend = backend.model_copy(update={"task_type": task_type})
    else:
        backend = {**backend, "task_type": task_type}
    return {**data, "task_type": task_type, "backend": backend}
