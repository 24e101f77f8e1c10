"""Ground Truth's built-in task types: which one a campaign uses, its worker template and its Lambdas.

A built-in task is chosen by the campaign's content kind (text and records are shown as text, images by
their ``s3://`` URI) and the backend's ``task_type``. Each has a crowd-html element (the worker UI), an
output ``type`` in the output manifest, and a pre-annotation (``PRE-<task>``) and annotation-consolidation
(``ACS-<task>``) Lambda that AWS hosts in one account per region.

Sources: the Lambda ARNs are listed in the SageMaker API reference (``HumanTaskConfig.PreHumanTaskLambdaArn``
and ``AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn``), which botocore ships as the
service model's documentation (``botocore/data/sagemaker/2017-07-24/service-2.json``; the tests check every
ARN built here against it). The templates follow the ones the SageMaker Developer Guide gives for each
task type created through the API (``sms-text-classification*.md``, ``sms-image-classification*.md``,
``sms-bounding-box.md``, ``sms-named-entity-recg.md`` in awsdocs/amazon-sagemaker-developer-guide).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib.resources import files
from string import Template

from labeling.backends.base import BackendError
from labeling.spec import CampaignSpec, GroundTruthBackendSpec

# The account hosting the built-in PRE-/ACS- Lambdas in each region where Ground Truth runs them
# (the same account for every task type; from the API reference, see the module docstring).
LAMBDA_ACCOUNTS = {
    "us-east-1": "432418664414",
    "us-east-2": "266458841044",
    "us-west-2": "081040173940",
    "ca-central-1": "918755190332",
    "eu-west-1": "568282634449",
    "eu-west-2": "487402164563",
    "eu-central-1": "203001061592",
    "ap-northeast-1": "477331159723",
    "ap-northeast-2": "845288260483",
    "ap-south-1": "565803892007",
    "ap-southeast-1": "377565633583",
    "ap-southeast-2": "454466003867",
}


@dataclass(frozen=True)
class BuiltinTask:
    name: str  # Ground Truth's name, the suffix of its Lambdas: PRE-<name>, ACS-<name>
    element: str  # the crowd-html element workers use
    output_type: str  # ``type`` in the label's metadata of the output manifest
    image: bool  # the manifest names the object by ``source-ref`` (an image on S3), else ``source`` (text)
    keyword: str  # shown to workers looking for tasks
    answer: str  # the element's ``name`` in the template: the key of a worker's answer

    @property
    def template_file(self) -> str:
        return f"{self.name}.liquid.html"


def _task(
    name: str, element: str, output_type: str, image: bool, keyword: str, answer: str = ""
) -> BuiltinTask:
    return BuiltinTask(name, element, f"groundtruth/{output_type}", image, keyword, answer or element)


TASKS = {
    ("classification", False): _task(
        "TextMultiClass", "crowd-classifier", "text-classification", False, "Text classification"
    ),
    ("multi_label", False): _task(
        "TextMultiClassMultiLabel",
        "crowd-classifier-multi-select",
        "text-classification-multilabel",
        False,
        "Text classification",
    ),
    ("classification", True): _task(
        "ImageMultiClass", "crowd-image-classifier", "image-classification", True, "Image classification"
    ),
    ("multi_label", True): _task(
        "ImageMultiClassMultiLabel",
        "crowd-image-classifier-multi-select",
        "image-classification-multilabel",
        True,
        "Image classification",
    ),
    ("bounding_box", True): _task(
        "BoundingBox", "crowd-bounding-box", "object-detection", True, "Bounding box", "boundingBox"
    ),
    ("named_entity", False): _task(
        "NamedEntityRecognition", "crowd-entity-annotation", "text-span", False, "Named entity recognition"
    ),
}


def builtin_task(spec: CampaignSpec) -> BuiltinTask:
    """The built-in task for the campaign's content and task type, or a one-line reason there is none."""
    if not isinstance(spec.backend, GroundTruthBackendSpec):
        raise TypeError("a Ground Truth task needs a ground_truth backend spec")
    task_type = spec.backend.task_type
    found = TASKS.get((task_type, spec.content.kind == "image"))
    if found is None:
        wanted = "image" if task_type == "bounding_box" else "text or record"
        raise BackendError(
            f"campaign {spec.name}: Ground Truth's {task_type} task needs {wanted} content, "
            f"not {spec.content.kind}"
        )
    return found


def builtin_lambdas(region: str, task: BuiltinTask) -> tuple[str, str]:
    """(pre-annotation, annotation-consolidation) Lambda ARNs of a built-in task in a region."""
    account = LAMBDA_ACCOUNTS.get(region)
    if account is None:
        raise BackendError(
            f"Ground Truth has no built-in task Lambdas in {region}; regions: {', '.join(sorted(LAMBDA_ACCOUNTS))}"
        )
    base = f"arn:aws:lambda:{region}:{account}:function"
    return f"{base}:PRE-{task.name}", f"{base}:ACS-{task.name}"


def render_template(task: BuiltinTask, spec: CampaignSpec) -> str:
    """The worker template: the AWS template of the task with the campaign's title and instructions.

    Ground Truth renders it with Liquid, filling ``task.input.taskObject`` (the text, or the image URI)
    and ``task.input.labels`` (the label categories). What lakeprep puts in is HTML-escaped and its
    braces too, so no instruction is ever read as HTML or Liquid."""
    assert isinstance(spec.backend, GroundTruthBackendSpec)
    short = " ".join(part for part in (spec.backend.task_description, spec.instructions) if part)
    full = [f"<p>{_text(spec.instructions or spec.backend.task_description)}</p>"]
    if spec.label_descriptions:
        full.append("<dl>")
        for label in spec.labels:
            if label in spec.label_descriptions:
                full.append(f"<dt>{_text(label)}</dt><dd>{_text(spec.label_descriptions[label])}</dd>")
        full.append("</dl>")
    source = files(__package__).joinpath("templates", task.template_file).read_text("utf-8")
    return Template(source).substitute(
        header=_text(spec.backend.task_title),
        short_instructions=f"<p>{_text(short)}</p>",
        full_instructions="".join(full),
    )


def _text(value: str) -> str:
    return html.escape(value).replace("{", "&#123;").replace("}", "&#125;")
