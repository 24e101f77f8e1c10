"""Label Studio through label-studio-sdk 2.x: one project per campaign, one task per item.

Each task carries the item id and batch id in its data, so a batch can be found again (Data Manager
filter) and never imported twice. A classification asks for one ``<Choices>``; a span campaign puts
``<Labels>`` over the ``<Text>`` and a box campaign ``<RectangleLabels>`` over the ``<Image>``, and each
region of an answer comes back as its own annotation (key ``ls:<project>:<annotation>:<region>``) with
its span (code point offsets, converted from the browser's UTF-16 ones) or box (pixels of the original
image, from Label Studio's percentages) in ``detail``; an answer submitted with nothing marked comes back
as one ``NO_REGIONS`` annotation (key ``...:<annotation>:no-regions``). Pre-annotations go in as predictions (``model_version``, ``score``);
validation items get none, so the humans who grade the model are not anchored by it. Lists are read
page by page. The token comes from the environment only and is never logged.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from labeling.backends.base import (
    Annotation,
    Backend,
    BackendError,
    BackendUnavailableError,
    Progress,
    Task,
    display_text,
)
from labeling.content import image_url, readable, record_fields
from labeling.regions import NO_REGIONS
from labeling.spec import CampaignSpec, LabelStudioBackendSpec
from labeling.state import Batch
from lake.storage import Storage

TOKEN_ENVS = ("LAKEPREP_LABEL_STUDIO_TOKEN", "LABEL_STUDIO_API_KEY")
CONTROL = "label"
ID_FIELD, BATCH_FIELD = "lakeprep_id", "lakeprep_batch"
_T = TypeVar("_T")


def token_from_env() -> str:
    for name in TOKEN_ENVS:
        value = os.environ.get(name)
        if value:
            return value
    raise BackendError(f"no Label Studio token: set ${TOKEN_ENVS[0]} (or ${TOKEN_ENVS[1]})")


OBJECT_TAGS = {"text": ("Text", "text"), "image": ("Image", "image"), "record": ("HyperText", "html")}
REGION_TAGS = {
    "named_entity": ("Labels", "labels", "text"),
    "bounding_box": ("RectangleLabels", "rectanglelabels", "image"),
}


def check_task_type(spec: CampaignSpec) -> None:
    """A one-line reason when Label Studio cannot ask this campaign's question of its content."""
    if spec.task_type == "multi_label":
        raise BackendError(
            f"campaign {spec.name}: multi-label campaigns are not supported on Label Studio yet"
        )
    if spec.structured and NO_REGIONS in spec.labels:
        raise BackendError(
            f"campaign {spec.name}: {NO_REGIONS!r} marks an answer without regions, not a label"
        )
    if spec.task_type in REGION_TAGS and spec.content.kind != REGION_TAGS[spec.task_type][2]:
        raise BackendError(
            f"campaign {spec.name}: Label Studio's {spec.task_type} task needs "
            f"{REGION_TAGS[spec.task_type][2]} content, not {spec.content.kind}"
        )


def label_config(spec: CampaignSpec) -> str:
    """The labelling interface: the instructions as a header, the content in the tag that fits it (text,
    image, or the record as an escaped HTML table), and one choice per label with its description as hint
    (for spans and boxes: one region label per label, above the content they are drawn on)."""
    check_task_type(spec)
    tag, key = OBJECT_TAGS[spec.content.kind]
    extra = ' inline="true"' if tag == "HyperText" else ""
    header = f'<Header value="{_attr(spec.instructions)}"/>' if spec.instructions else ""
    element = "Label" if spec.task_type in REGION_TAGS else "Choice"
    choices = "".join(
        f'<{element} value="{_attr(label)}"'
        + (f' hint="{_attr(spec.label_descriptions[label])}"' if label in spec.label_descriptions else "")
        + "/>"
        for label in spec.labels
    )
    if spec.task_type in REGION_TAGS:
        control = REGION_TAGS[spec.task_type][0]
        return (
            f'<View>{header}<{control} name="{CONTROL}" toName="item" showInline="true">{choices}</{control}>'
            f'<{tag} name="item" value="${key}"/></View>'
        )
    return (
        f'<View>{header}<{tag} name="item" value="${key}"{extra}/>'
        f'<Choices name="{CONTROL}" toName="item" choice="single" showInline="true">{choices}</Choices></View>'
    )


def _attr(text: str) -> str:
    """An XML attribute value; ``$`` would make Label Studio read a task field."""
    return html.escape(text, quote=True).replace("$", "&#36;")


def record_html(spec: CampaignSpec, data: dict[str, Any]) -> str:
    """A record as a person reads it: one row per field with its readable value and its description."""
    rows = "".join(
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{html.escape(f.name)}</th>'
        f'<td class="lakeprep-value" style="padding:2px 12px 2px 0">{html.escape(readable(data.get(f.name)))}</td>'
        f'<td style="color:#666">{html.escape(f.description or "")}</td></tr>'
        for f in record_fields(spec)
    )
    return f'<table class="lakeprep-record">{rows}</table>'


def task_payload(
    spec: CampaignSpec, batch_id: str, task: Task, storage: Storage | None = None
) -> dict[str, Any]:
    kind = spec.content.kind
    _, key = OBJECT_TAGS[kind]
    shown: Any
    if kind == "image":
        value = task.data.get(spec.content.columns[0])
        if value is None:
            raise BackendError(f"item {task.example_id} has no image in {spec.content.columns[0]!r}")
        shown = image_url(storage or Storage.resolve(), str(value))
    elif kind == "record":
        shown = record_html(spec, task.data)
    else:
        shown = display_text(task.data, spec)
    payload: dict[str, Any] = {"data": {key: shown, ID_FIELD: task.example_id, BATCH_FIELD: batch_id}}
    if task.predicted is not None and not spec.structured:  # a class is no region to pre-draw
        payload["predictions"] = [
            {
                "model_version": task.model_version or "unknown",
                "score": float(task.score) if task.score is not None else None,
                "result": [
                    {
                        "from_name": CONTROL,
                        "to_name": "item",
                        "type": "choices",
                        "value": {"choices": [task.predicted]},
                    }
                ],
            }
        ]
    return payload


class LabelStudioBackend(Backend):
    name = "label_studio"
    revisable = True

    def __init__(
        self, spec: CampaignSpec, state: dict[str, Any], client: Any = None, storage: Storage | None = None
    ) -> None:
        super().__init__(spec, state)
        self.storage = storage  # where lake-path images are read from
        if not isinstance(spec.backend, LabelStudioBackendSpec):
            raise TypeError("LabelStudioBackend needs a label_studio backend spec")
        self.config = spec.backend
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from label_studio_sdk import LabelStudio

            self._client = LabelStudio(base_url=self.config.url, api_key=token_from_env(), max_retries=1)
        return self._client

    def _call(self, what: str, request: Callable[[], _T]) -> _T:
        """Run one API request, turning transport and API failures into backend errors (no secrets)."""
        from label_studio_sdk.core.api_error import ApiError

        try:
            return request()
        except httpx.TransportError as exc:
            raise BackendUnavailableError(
                f"Label Studio at {self.config.url} is unreachable ({what}): {type(exc).__name__}"
            ) from exc
        except ApiError as exc:
            if exc.status_code is not None and exc.status_code >= 500:
                raise BackendUnavailableError(
                    f"Label Studio at {self.config.url} failed ({what}): HTTP {exc.status_code}"
                ) from exc
            raise BackendError(
                f"Label Studio refused {what}: HTTP {exc.status_code} {str(exc.body)[:300]}"
            ) from exc

    @property
    def title(self) -> str:
        return self.config.project_title or f"lakeprep: {self.spec.name}"

    @property
    def project_id(self) -> int:
        if "project_id" not in self.state:
            raise BackendError("the Label Studio project is not set up yet (run `round`)")
        return int(self.state["project_id"])

    def prepare(self) -> dict[str, Any]:
        known = self.state.get("project_id")
        if known is not None:
            project = self._call("get project", lambda: self.client.projects.get(id=int(known)))
            return {"project_id": int(project.id), "url": self.config.url}
        existing = self._every_page(
            "list projects",
            lambda page, size: self.client.projects.list(title=self.title, page=page, page_size=size),
            lambda listing: int(listing.count),
        )
        match = [p for p in existing if p.title == self.title]
        if match:
            project = min(match, key=lambda p: p.id)
        else:
            multi = self.spec.annotators_per_item > 1
            given = self.spec.instructions  # Label Studio refuses a null instruction: leave it out then
            instructions = {"expert_instruction": given, "show_instruction": True} if given else {}
            project = self._call(
                "create project",
                lambda: self.client.projects.create(
                    title=self.title,
                    description=f"lakeprep campaign {self.spec.name} on {self.spec.source}",
                    label_config=label_config(self.spec),
                    maximum_annotations=self.spec.annotators_per_item,
                    overlap_cohort_percentage=100 if multi else 0,
                    show_collab_predictions=self.spec.prelabel_above is not None,
                    **instructions,
                ),
            )
        self.state["project_id"] = int(project.id)
        return {"project_id": int(project.id), "url": self.config.url}

    def _batch_tasks(self, batch_id: str, with_annotations: bool) -> list[Any]:
        """Every task of a batch (a Data Manager filter on the batch id), read ``page_size`` at a time."""
        query = json.dumps(
            {
                "filters": {
                    "conjunction": "and",
                    "items": [
                        {
                            "filter": f"filter:tasks:data.{BATCH_FIELD}",
                            "operator": "equal",
                            "type": "String",
                            "value": batch_id,
                        }
                    ],
                }
            }
        )
        return self._every_page(
            f"list tasks of {batch_id}",
            lambda page, size: self.client.tasks.list(
                project=self.project_id,
                query=query,
                page=page,
                page_size=size,
                fields="all" if with_annotations else "task_only",
            ),
            lambda listing: int(listing.total),
        )

    def _every_page(
        self, what: str, read_page: Callable[[int, int], Any], total_of: Callable[[Any], int]
    ) -> list[Any]:
        """Every item of a paged list, asking only for pages that exist. The SDK's own iterator asks for
        one page past the last, and a Label Studio server answers each such request with an ``Invalid
        page`` traceback in its log (the user's terminal when started as the docs show)."""
        size = self.config.page_size
        items: list[Any] = []
        page = 1
        while True:
            pager = self._call(f"{what} (page {page})", lambda p=page: read_page(p, size))  # type: ignore[misc]
            found = list(pager.items or [])
            items.extend(found)
            if len(found) < size or len(items) >= total_of(pager.response):
                return items
            page += 1

    def push(self, batch: Batch, tasks: list[Task]) -> dict[str, Any]:
        present = {t.data.get(ID_FIELD) for t in self._batch_tasks(batch.batch_id, with_annotations=False)}
        missing = [t for t in tasks if t.example_id not in present]
        for start in range(0, len(missing), self.config.import_chunk):
            chunk = [
                task_payload(self.spec, batch.batch_id, t, self.storage)
                for t in missing[start : start + self.config.import_chunk]
            ]
            self._call(
                f"import tasks of {batch.batch_id}",
                lambda c=chunk: self.client.projects.import_tasks(  # type: ignore[misc]
                    id=self.project_id, request=c, commit_to_project=True
                ),
            )
        return {"project_id": self.project_id, "tasks": len(tasks), "imported": len(missing)}

    def stop(self, batch: Batch) -> dict[str, Any]:
        """Delete the batch's tasks nobody answered (answered ones stay, with their annotations), so no one
        labels them after the batch is closed and a later batch never meets a second task for the item."""
        unanswered = [
            t for t in self._batch_tasks(batch.batch_id, with_annotations=True) if not (t.annotations or [])
        ]
        for task in unanswered:
            self._call(f"delete task {task.id}", lambda t=task: self.client.tasks.delete(id=str(t.id)))  # type: ignore[misc]
        return {"deleted_tasks": len(unanswered)}

    def pull(self, batch: Batch) -> Progress:
        annotations: list[Annotation] = []
        finished = 0
        notes: list[str] = []
        for task in self._batch_tasks(batch.batch_id, with_annotations=True):
            example_id = str(task.data.get(ID_FIELD))
            given = [a if isinstance(a, dict) else a.dict() for a in task.annotations or []]
            if len(given) >= batch.annotators:
                finished += 1
            for item in given:
                if item.get("was_cancelled"):
                    continue
                if self.spec.structured:
                    found, problems = self._regions(task, item, example_id)
                    annotations += found
                    notes += problems
                    continue
                label = _choice(item.get("result") or [])
                if label is None:
                    notes.append(f"task {task.id}: annotation {item.get('id')} has no choice")
                    continue
                annotations.append(
                    Annotation(
                        example_id=example_id,
                        label=label,
                        annotator_id=f"ls-user:{item.get('completed_by')}",
                        key=f"ls:{self.project_id}:{item['id']}",
                        annotated_at=_timestamp(item.get("updated_at") or item.get("created_at")),
                        revision=str(item.get("updated_at") or "") or None,
                    )
                )
        return Progress(annotations, finished, len(batch.items), notes)

    def _regions(
        self, task: Any, item: dict[str, Any], example_id: str
    ) -> tuple[list[Annotation], list[str]]:
        """One annotation per span or box of an answer, its region in ``detail`` with where it came from."""
        _, kind, _ = REGION_TAGS[self.spec.task_type]
        found, notes = [], []
        drawn = [
            r for r in item.get("result") or [] if r.get("from_name") == CONTROL and r.get("type") == kind
        ]
        if not drawn:  # submitted with nothing marked: an answer all the same (see labeling.regions)
            return [self._annotation(task, item, example_id, NO_REGIONS, "no-regions", None, {})], []
        for region in drawn:
            value = region.get("value") or {}
            labels = value.get(kind) or []
            if not labels:
                notes.append(
                    f"task {task.id}: region {region.get('id')} of annotation {item.get('id')} has no label"
                )
                continue
            if kind == "labels":
                shape = {"span": _span(str(task.data.get("text", "")), value)}
            else:
                shape = _box(region, value)
            found.append(
                self._annotation(
                    task, item, example_id, str(labels[0]), region.get("id"), region.get("score"), shape
                )
            )
        return found, notes

    def _annotation(
        self,
        task: Any,
        item: dict[str, Any],
        example_id: str,
        label: str,
        region: Any,
        score: Any,
        shape: dict[str, Any],
    ) -> Annotation:
        """One region of an answer (or its no-regions marker), keyed by project, annotation and region."""
        provenance = {"task": task.id, "annotation": item.get("id"), "region": region}
        return Annotation(
            example_id=example_id,
            label=label,
            annotator_id=f"ls-user:{item.get('completed_by')}",
            key=f"ls:{self.project_id}:{item['id']}:{region}",
            confidence=_score(score),
            annotated_at=_timestamp(item.get("updated_at") or item.get("created_at")),
            revision=str(item.get("updated_at") or "") or None,
            detail=json.dumps(provenance | shape, sort_keys=True),
        )


def _span(text: str, value: dict[str, Any]) -> dict[str, Any]:
    """A span in code points (Python's string indexes); the browser counts UTF-16 code units."""
    units = text.encode("utf-16-le")

    def points(offset: int) -> int:
        return len(units[: 2 * offset].decode("utf-16-le", errors="ignore"))

    start, end = points(int(value["start"])), points(int(value["end"]))
    return {"start": start, "end": end, "text": text[start:end]}


def _box(region: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    """A box in pixels of the original image (Label Studio gives percentages of it), the percentages kept."""
    percent = {k: float(value[k]) for k in ("x", "y", "width", "height")} | {
        "rotation": value.get("rotation", 0)
    }
    width, height = region.get("original_width"), region.get("original_height")
    if not width or not height:  # no image size (an answer made without the image loaded): no pixels
        return {"box_percent": percent}
    scale_x, scale_y = float(width) / 100, float(height) / 100
    box = {
        "left": percent["x"] * scale_x,
        "top": percent["y"] * scale_y,
        "width": percent["width"] * scale_x,
        "height": percent["height"] * scale_y,
    }
    return {"box": box, "box_percent": percent, "image_size": {"width": int(width), "height": int(height)}}


def _score(value: Any) -> float | None:
    return float(value) if value is not None else None


def _choice(result: list[dict[str, Any]]) -> str | None:
    for region in result:
        if region.get("from_name") == CONTROL and region.get("type") == "choices":
            choices = region.get("value", {}).get("choices") or []
            if choices:
                return str(choices[0])
    return None


def _timestamp(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and value:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None
