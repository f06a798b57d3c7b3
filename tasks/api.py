"""/api/v1/tasks: the unified task list over HTTP (thin: parse, call a service or selector)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.responses import NinjaJSONEncoder
from pydantic import AfterValidator, ConfigDict

from accounts.actor import ORIGIN_API, Actor
from leads.models import Lead
from sponsors.models import Sponsor
from tasks import enrichment, selectors, services
from tasks.models import Task
from tracker_project.api_errors import ApiError, reject_unknown_query
from tracker_project.api_fields import ApiDateTime, BodyDbId, DbId, SafeText, UuidPath, parse_uuid
from tracker_project.api_schemas import error_responses

router = Router(tags=["tasks"])
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

StatusT = Literal["todo", "in_progress", "done"]
PriorityT = Literal["low", "medium", "high"]
SourceT = Literal["manual", "salesforce", "asana", "google_calendar", "sheet"]
OrderT = Literal["position", "due_at", "-updated_at", "priority"]


def _title(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("Title must not be blank.")
    if len(value) > 255:
        raise ValueError("Title must be at most 255 characters after trimming.")
    return value


Title = Annotated[SafeText, Field(max_length=10_000), AfterValidator(_title)]
LongText = Annotated[SafeText, Field(max_length=20_000)]
ExternalRef = Annotated[
    SafeText,
    Field(max_length=100, description="Id of an item in the external API (fetched from /todos/{id})."),
    AfterValidator(enrichment.external_ref_clean),
]
Username = Annotated[SafeText, Field(min_length=1, max_length=150)]
When = ApiDateTime


class TaskIn(Schema):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: LongText = ""
    status: StatusT = "todo"
    priority: PriorityT = "medium"
    due_at: When | None = None
    sponsor_id: BodyDbId | None = None
    lead_id: BodyDbId | None = None
    assignee: Username | None = Field(None, description="Username of the person responsible.")
    notes: LongText = ""
    external_ref: ExternalRef = ""


class TaskPatch(Schema):
    """Every field optional; only the fields sent are changed (PUT behaves the same)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: LongText | None = None
    status: StatusT | None = None
    priority: PriorityT | None = None
    due_at: When | None = None
    sponsor_id: BodyDbId | None = None
    lead_id: BodyDbId | None = None
    assignee: Username | None = None
    notes: LongText | None = None
    external_ref: ExternalRef | None = None


class TaskMoveIn(Schema):
    model_config = ConfigDict(extra="forbid")

    after_id: uuid.UUID | None = Field(None, description="The task that should come just before this one.")
    before_id: uuid.UUID | None = Field(None, description="The task that should come just after this one.")
    status: StatusT | None = Field(None, description="Target column; defaults to the neighbours' column.")


class TaskOut(Schema):
    id: uuid.UUID
    title: str
    description: str
    status: StatusT
    priority: PriorityT
    due_at: dt.datetime | None
    sponsor_id: int | None
    lead_id: int | None
    assignee: str | None
    notes: str
    source: SourceT
    external_id: str | None
    external_url: str
    removed_at: dt.datetime | None = Field(description="When the source stopped listing this task (pulled tasks).")
    external_ref: str
    external_data: Any = Field(
        description="The item last fetched for external_ref (null until fetched; kept when a later fetch fails)."
    )
    enrichment_status: Literal["", "ok", "pending", "failed", "not_found"] = Field(
        description="Outcome of the last fetch of external_ref: ok, not_found, pending (retried), failed."
    )
    enrichment_error: str = Field(description="Why the last fetch failed (empty after a good one).")
    enrichment_fetched_at: dt.datetime | None = Field(
        description="When external_data was last fetched successfully; a failed fetch keeps that data."
    )
    enrichment_checked_at: dt.datetime | None = Field(
        description="When the external API was last asked, whatever it answered."
    )
    position: int
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None


class TaskListOut(Schema):
    items: list[TaskOut]
    count: int


class TaskListQuery(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)
    status: StatusT | None = None
    priority: PriorityT | None = None
    source: SourceT | None = None
    sponsor_id: DbId | None = None
    lead_id: DbId | None = None
    due_before: When | None = None
    due_after: When | None = None
    overdue: bool | None = None
    q: Annotated[SafeText, Field(max_length=200)] | None = None
    order: OrderT = "position"


class TaskHistoryEventOut(Schema):
    id: int
    created_at: dt.datetime
    actor: str
    action: str
    changes: dict[str, Any]
    origin: str


def task_out(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority,
        "due_at": task.due_at,
        "sponsor_id": task.sponsor_id,
        "lead_id": task.lead_id,
        "assignee": task.assignee.username if task.assignee_id else None,
        "notes": task.notes,
        "source": task.source,
        "external_id": task.external_id,
        "external_url": task.external_url,
        "removed_at": task.removed_at,
        "external_ref": task.external_ref,
        "external_data": task.external_data,
        "enrichment_status": task.enrichment_status,
        "enrichment_error": task.enrichment_error,
        "enrichment_fetched_at": task.enrichment_fetched_at,
        "enrichment_checked_at": task.enrichment_checked_at,
        "position": task.position,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "completed_at": task.completed_at,
    }


def _resolve_relations(data: dict[str, Any]) -> dict[str, Any]:
    """Turn sponsor_id / lead_id / assignee into model instances; unknown ones are a 422."""
    errors = []
    out = dict(data)
    if "sponsor_id" in out:
        sponsor_id = out.pop("sponsor_id")
        out["sponsor"] = Sponsor.objects.filter(pk=sponsor_id).first() if sponsor_id is not None else None
        if sponsor_id is not None and out["sponsor"] is None:
            errors.append({"loc": ["body", "sponsor_id"], "msg": f"No sponsor with id {sponsor_id}."})
    if "lead_id" in out:
        lead_id = out.pop("lead_id")
        out["lead"] = Lead.objects.filter(pk=lead_id).first() if lead_id is not None else None
        if lead_id is not None and out["lead"] is None:
            errors.append({"loc": ["body", "lead_id"], "msg": f"No lead with id {lead_id}."})
    if "assignee" in out and out["assignee"] is not None:
        username = out["assignee"]
        out["assignee"] = get_user_model().objects.filter(username=username, is_active=True).first()
        if out["assignee"] is None:
            errors.append({"loc": ["body", "assignee"], "msg": f"No active user named {username!r}."})
    if errors:
        raise ApiError(422, errors)
    return out


def _get_task(task_id: str) -> Task:
    """The task with this id; a malformed id is answered like an unknown one (404)."""
    pk = parse_uuid(task_id)
    if pk is None:
        raise ApiError(404, "No task with that id.")
    try:
        return selectors.task_get(task_id=pk)
    except Task.DoesNotExist:
        raise ApiError(404, f"No task with id {pk}.") from None


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, origin=ORIGIN_API)


@router.post("/tasks", response={201: TaskOut, **error_responses(409)}, summary="Create a task")
def create_task(request: HttpRequest, payload: TaskIn) -> Status[dict[str, Any]]:
    data = _resolve_relations(payload.model_dump())
    for text_field in ("description", "notes", "external_ref"):
        data[text_field] = data[text_field] or ""
    actor = _actor(request)
    task = services.task_create(actor=actor, **data)
    if task.external_ref:
        enrichment.task_enrich_on_save(task=task, actor=actor)
    return Status(201, task_out(task))


# --- The two hot reads: rows straight to JSON -------------------------------------------------
# GET /tasks and GET /tasks/{id} render selector rows themselves instead of handing dicts to
# ninja for validation against TaskOut and a second pass through its JSON encoder. The bytes are
# the same as ninja's (tests/test_api_output.py compares them): the same keys in TaskOut's order,
# datetimes formatted as DjangoJSONEncoder does (milliseconds, "Z" for UTC), UUIDs as strings,
# json.dumps with its default ensure_ascii.


def _json_datetime(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    if value.microsecond:
        text = text[:23] + text[26:]
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text


def task_row_out(row: dict[str, Any]) -> dict[str, Any]:
    """An API row of selectors.task_api_values() as TaskOut's JSON-ready dict."""
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "description": row["description"],
        "status": row["status"],
        "priority": row["priority"],
        "due_at": _json_datetime(row["due_at"]),
        "sponsor_id": row["sponsor_id"],
        "lead_id": row["lead_id"],
        "assignee": row["assignee_username"],
        "notes": row["notes"],
        "source": row["source"],
        "external_id": row["external_id"],
        "external_url": row["external_url"],
        "removed_at": _json_datetime(row["removed_at"]),
        "external_ref": row["external_ref"],
        "external_data": row["external_data"],
        "enrichment_status": row["enrichment_status"],
        "enrichment_error": row["enrichment_error"],
        "enrichment_fetched_at": _json_datetime(row["enrichment_fetched_at"]),
        "enrichment_checked_at": _json_datetime(row["enrichment_checked_at"]),
        "position": row["position"],
        "created_at": _json_datetime(row["created_at"]),
        "updated_at": _json_datetime(row["updated_at"]),
        "completed_at": _json_datetime(row["completed_at"]),
    }


def _json_response(data: Any) -> HttpResponse:
    return HttpResponse(json.dumps(data, cls=NinjaJSONEncoder), content_type=JSON_CONTENT_TYPE)


@router.get("/tasks", response={200: TaskListOut, **error_responses()}, summary="List and filter tasks")
def list_tasks(request: HttpRequest, params: Query[TaskListQuery]) -> HttpResponse:
    reject_unknown_query(request, TaskListQuery)
    filters = selectors.TaskFilters(**params.model_dump(exclude={"limit", "offset"}))
    rows, count = selectors.task_api_page(filters=filters, limit=params.limit, offset=params.offset)
    return _json_response({"items": [task_row_out(row) for row in rows], "count": count})


@router.get("/tasks/{task_id}", response={200: TaskOut, **error_responses(404)}, summary="Get a task")
def get_task(request: HttpRequest, task_id: UuidPath) -> HttpResponse:
    pk = parse_uuid(task_id)
    row = selectors.task_api_get(task_id=pk) if pk is not None else None
    if row is None:
        raise ApiError(404, f"No task with id {pk}." if pk is not None else "No task with that id.")
    return _json_response(task_row_out(row))


def _update(request: HttpRequest, task_id: UuidPath, payload: TaskPatch) -> dict[str, Any]:
    task = _get_task(task_id)
    sent = payload.model_dump(exclude_unset=True)
    for required in ("title", "status", "priority"):
        if required in sent and sent[required] is None:
            raise ApiError(422, [{"loc": ["body", required], "msg": f"{required} cannot be null."}])
    for text_field in ("description", "notes", "external_ref"):
        if text_field in sent and sent[text_field] is None:
            sent[text_field] = ""
    old_ref = task.external_ref
    actor = _actor(request)
    try:
        task = services.task_update(task=task, actor=actor, **_resolve_relations(sent))
    except services.TaskConflict as exc:
        raise ApiError(409, str(exc)) from None
    if task.external_ref != old_ref:
        enrichment.task_enrich_on_save(task=task, actor=actor)
    return task_out(task)


@router.patch("/tasks/{task_id}", response={200: TaskOut, **error_responses(404, 409)}, summary="Update a task")
def patch_task(request: HttpRequest, task_id: UuidPath, payload: TaskPatch) -> dict[str, Any]:
    return _update(request, task_id, payload)


@router.put(
    "/tasks/{task_id}",
    response={200: TaskOut, **error_responses(404, 409)},
    summary="Update a task (partial, like PATCH)",
)
def put_task(request: HttpRequest, task_id: UuidPath, payload: TaskPatch) -> dict[str, Any]:
    return _update(request, task_id, payload)


@router.delete("/tasks/{task_id}", response={204: None, **error_responses(404)}, summary="Delete a task")
def delete_task(request: HttpRequest, task_id: UuidPath) -> Status[None]:
    services.task_delete(task=_get_task(task_id), actor=_actor(request))
    return Status(204, None)


@router.post(
    "/tasks/{task_id}/move",
    response={200: TaskOut, **error_responses(404, 409)},
    summary="Place a task between two neighbours, in a status column",
)
def move_task(request: HttpRequest, task_id: UuidPath, payload: TaskMoveIn) -> dict[str, Any]:
    task = _get_task(task_id)
    wanted = {name: getattr(payload, f"{name}_id") for name in ("after", "before")}
    found = Task.objects.in_bulk([pk for pk in wanted.values() if pk is not None])
    neighbours: dict[str, Task] = {}
    for name, neighbour_id in wanted.items():
        if neighbour_id is None:
            continue
        if neighbour_id not in found:
            raise ApiError(409, f"Neighbour task {neighbour_id} no longer exists; reload the board.")
        neighbours[name] = found[neighbour_id]
    try:
        task = services.task_move(task=task, actor=_actor(request), status=payload.status, **neighbours)
    except services.TaskConflict as exc:
        raise ApiError(409, str(exc)) from None
    return task_out(task)


@router.get(
    "/tasks/{task_id}/history",
    response={200: list[TaskHistoryEventOut], **error_responses(404)},
    summary="The task's audit trail, newest first",
)
def task_history(request: HttpRequest, task_id: UuidPath) -> list[dict[str, Any]]:
    reject_unknown_query(request)
    task = _get_task(task_id)
    return [
        {
            "id": e.id,
            "created_at": e.created_at,
            "actor": e.actor_label,
            "action": e.action,
            "changes": e.changes,
            "origin": e.origin,
        }
        for e in selectors.task_history(task=task)[:500]
    ]
