"""Pipelines: the jobs in order, run locally (``runner``) or deployed as a Glue workflow / EMR steps."""

from lake.pipeline.model import (
    Pipeline,
    PipelineError,
    Stage,
    check_datasets,
    load_pipeline,
    parse_pipeline,
    pipeline_path,
)

__all__ = [
    "Pipeline",
    "PipelineError",
    "Stage",
    "check_datasets",
    "load_pipeline",
    "parse_pipeline",
    "pipeline_path",
]
