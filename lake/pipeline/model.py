"""A pipeline: the job scripts to run in order (ingest -> clean -> featurize), with each stage's
datasets and options. One file (``pipelines/<name>.yaml``) drives the local runner, the Glue
workflow and the EMR steps, so the three cannot disagree on what runs after what.

Stages are validated against the jobs themselves (their ``OPTIONS`` literal) and the contracts, so
``stages[1].options.ful-refresh`` fails at load time, naming the file and the field, instead of
being ignored by the job at run time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from lake import paths
from lake.contracts import parse_document
from lake.documents import StrictModel, find_document, is_document
from lake.job_scripts import available_jobs, job_options
from lake.lineage import redact

PIPELINES_DIR = "pipelines"
DEFAULT_PIPELINE = "default"
DATASET_OPTION = "dataset"

OptionValue = bool | int | float | str | list[str]


def _options_of(job: str) -> dict[str, str]:
    return job_options(paths.job_script(job))


class PipelineError(ValueError):
    """A pipeline file or a stage selection that cannot be used; the message names the file and field."""


class Stage(StrictModel):
    """One job run of the pipeline: ``--dataset`` from ``datasets`` (default: every contract), then ``options``."""

    job: str
    datasets: list[str] | None = Field(default=None, min_length=1)
    options: dict[str, OptionValue] = Field(default_factory=dict)

    @field_validator("job")
    @classmethod
    def _known_job(cls, value: str) -> str:
        jobs = available_jobs()
        if value not in jobs:
            raise ValueError(f"no job {value!r}; jobs are {jobs}")
        return value

    @field_validator("datasets")
    @classmethod
    def _takes_datasets(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        job = info.data.get("job")
        if value is not None and job and DATASET_OPTION not in _options_of(job):
            raise ValueError(f"job {job!r} takes no --{DATASET_OPTION}")
        return value

    @field_validator("options")
    @classmethod
    def _known_options(cls, value: dict[str, OptionValue], info: ValidationInfo) -> dict[str, OptionValue]:
        job = info.data.get("job")
        accepted = _options_of(job) if job else {}
        for name, option in value.items():
            if name == DATASET_OPTION:
                raise ValueError(f"{name!r}: list the stage's datasets under `datasets:` instead")
            if job and name not in accepted:
                raise ValueError(f"{name!r}: job {job!r} has no such option; it has {sorted(accepted)}")
            if redact({name: str(option)}) != {name: str(option)}:
                raise ValueError(f"{name!r} looks like a secret; pass a Secrets Manager id instead")
        return value

    @property
    def takes_datasets(self) -> bool:
        return DATASET_OPTION in _options_of(self.job)

    def arguments(self, datasets: list[str] | None = None) -> dict[str, str]:
        """Glue-style ``--name value`` arguments; ``datasets`` (a run's --dataset) replaces the stage's.
        A false flag is left out, a true one is ``true`` (what the jobs' flag parsing accepts)."""
        chosen = datasets if datasets is not None and self.takes_datasets else self.datasets
        arguments = {f"--{DATASET_OPTION}": ",".join(chosen)} if chosen else {}
        for name, value in self.options.items():
            if value is False:
                continue
            text = (
                ",".join(value)
                if isinstance(value, list)
                else str(value).lower()
                if value is True
                else str(value)
            )
            arguments[f"--{name}"] = text
        return arguments


class Pipeline(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")
    description: str = ""
    stages: list[Stage] = Field(min_length=1)

    @field_validator("stages")
    @classmethod
    def _each_job_once(cls, value: list[Stage]) -> list[Stage]:
        # Glue's conditional triggers name the job they wait for: a job twice would be ambiguous.
        seen: dict[str, int] = {}
        for index, stage in enumerate(value):
            if stage.job in seen:
                raise ValueError(
                    f"job {stage.job!r} is stage {seen[stage.job]} and stage {index}; each job runs once"
                )
            seen[stage.job] = index
        return value

    @property
    def jobs(self) -> list[str]:
        return [stage.job for stage in self.stages]

    def index(self, job: str) -> int:
        if job not in self.jobs:
            raise PipelineError(f"pipeline {self.name!r} has no stage {job!r}; stages are {self.jobs}")
        return self.jobs.index(job)

    def stages_from(self, job: str | None) -> list[Stage]:
        return self.stages[self.index(job) :] if job else list(self.stages)


def parse_pipeline(text: str, source: str) -> Pipeline:
    return parse_document(text, source, Pipeline, "pipeline file", PipelineError)


def check_datasets(pipeline: Pipeline, source: str, contracts: Mapping[str, object]) -> None:
    """Every dataset a stage names has a contract (the error names the stage's field)."""
    for index, stage in enumerate(pipeline.stages):
        unknown = sorted(set(stage.datasets or []) - set(contracts))
        if unknown:
            raise PipelineError(
                f"{source}: stages[{index}].datasets: no contract for {unknown}; known: {sorted(contracts)}"
            )


def pipeline_path(name: str | None = None) -> Path:
    """``default`` is ``pipelines/default.yaml`` in the working directory, then the checkout, then the
    installed package; a path (``.yaml``/``.yml`` or an existing file) is itself."""
    chosen = name or os.environ.get("LAKEPREP_PIPELINE") or DEFAULT_PIPELINE
    candidate = Path(chosen)
    if is_document(candidate) or candidate.is_file():
        return candidate
    bases = [Path.cwd(), *([root] if (root := paths.checkout_root()) else [])]
    found = find_document(chosen, [base / PIPELINES_DIR for base in bases])
    if found is not None:
        return found
    bundled = paths.bundle_file(f"{PIPELINES_DIR}/{chosen}.yaml")
    if bundled is not None:
        return bundled
    raise PipelineError(
        f"no pipeline file for {chosen!r}: looked for {PIPELINES_DIR}/{chosen}.yaml in "
        + ", ".join(str(b) for b in bases)
    )


def load_pipeline(name: str | None = None, contracts: Mapping[str, object] | None = None) -> Pipeline:
    path = pipeline_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read pipeline file: {exc.strerror}") from exc
    pipeline = parse_pipeline(text, str(path))
    if contracts is not None:
        check_datasets(pipeline, str(path), contracts)
    return pipeline
