"""/api/v1/sync and /api/v1/scheduler: run history, connector health and scheduler control
(reads for every signed-in client, writes for staff only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from accounts.actor import ORIGIN_API, Actor
from accounts.api_auth import staff_required
from integrations import scheduler, selectors
from integrations.models import SyncRun
from tracker_project.api_errors import ApiError, reject_unknown_query
from tracker_project.api_fields import DbId, SafeText
from tracker_project.api_schemas import error_responses

router = Router(tags=["sync"])

RunStatusT = Literal["running", "succeeded", "partial", "failed"]
TriggerT = Literal["schedule", "manual", "api"]


class SyncRunOut(Schema):
    id: int
    connector: str
    scope: str
    sponsor_id: int | None
    sponsor_name: str | None
    trigger: TriggerT
    status: RunStatusT
    queued: bool = Field(description="Running but not yet picked up by a worker.")
    fetched: int
    created: int
    updated: int
    unchanged: int
    removed: int
    failed: int
    conflicts: int
    pages: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_seconds: float | None
    error: str


class RecordErrorOut(Schema):
    id: int
    kind: Literal["error", "conflict"]
    external_id: str
    message: str
    detail: dict[str, Any]


class SyncRunDetailOut(SyncRunOut):
    details: dict[str, Any]
    record_errors: list[RecordErrorOut] = Field(description="Per-record errors and conflicts (first 500).")


class SyncRunListOut(Schema):
    items: list[SyncRunOut]
    count: int


class SyncRunQuery(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)
    connector: Annotated[SafeText, Field(max_length=40)] | None = None
    status: RunStatusT | None = None
    sponsor_id: DbId | None = None
    trigger: TriggerT | None = None


class PausedScopeOut(Schema):
    scope: str
    consecutive_failures: int
    paused_until: dt.datetime


class ConnectorOut(Schema):
    key: str
    label: str
    mode: Literal["live", "demo"]
    credential_settings: list[str]
    scopes: int
    failing_scopes: int
    needs_reauth: int
    last_success_at: dt.datetime | None
    last_error: str
    last_error_at: dt.datetime | None
    running_run_ids: list[int]
    last_run_id: int | None
    consecutive_failures: int = Field(description="The longest run of failed syncs in a row over its scopes.")
    paused_until: dt.datetime | None = Field(
        description="Scheduled runs paused by the circuit breaker: the soonest next try (manual runs always try)."
    )
    paused_scopes: list[PausedScopeOut]


class ScheduleOut(Schema):
    name: str
    func: str
    interval: str = Field(description='Human form, e.g. "every minute", "hourly", "cron 0 * * * *".')
    schedule_type: str
    minutes: int | None
    cron: str | None
    next_run: dt.datetime | None
    last_run: dt.datetime | None
    last_status: Literal["success", "failure"] | None
    paused: bool
    integration: bool = Field(description="Paused and resumed by /scheduler/stop and /scheduler/start.")


class SchedulerStatusOut(Schema):
    cluster_alive: bool
    last_heartbeat: dt.datetime | None
    integrations_paused: bool
    schedules: list[ScheduleOut]


class SchedulerChangeOut(Schema):
    changed: list[str]
    status: SchedulerStatusOut


class SyncNowIn(Schema):
    model_config = ConfigDict(extra="forbid")

    job: Annotated[SafeText, Field(min_length=1, max_length=100)] | None = Field(
        None, description="A schedule's name (see /scheduler/status); default: every integration schedule."
    )


class SyncNowOut(Schema):
    queued: list[str]


def run_out(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "connector": run.connector,
        "scope": run.scope,
        "sponsor_id": run.sponsor_id,
        "sponsor_name": run.sponsor.name if run.sponsor_id and run.sponsor else None,
        "trigger": run.trigger,
        "status": run.status,
        "queued": run.is_queued,
        "fetched": run.fetched,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "removed": run.removed,
        "failed": run.failed,
        "conflicts": run.conflicts,
        "pages": run.pages,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": run.duration_seconds,
        "error": run.error,
    }


def _require_staff(request: HttpRequest) -> Actor:
    if not staff_required(request):
        raise ApiError(403, "Only staff can control the scheduler.")
    return Actor.from_request(request, origin=ORIGIN_API)


def _status_out() -> dict[str, Any]:
    status = scheduler.scheduler_status()
    return {
        "cluster_alive": status.cluster_alive,
        "last_heartbeat": status.last_heartbeat,
        "integrations_paused": status.integrations_paused,
        "schedules": [s.as_dict() for s in status.schedules],
    }


@router.get("/sync/runs", response={200: SyncRunListOut, **error_responses()}, summary="Sync run history")
def list_runs(request: HttpRequest, params: Query[SyncRunQuery]) -> dict[str, Any]:
    reject_unknown_query(request, SyncRunQuery)
    qs = selectors.sync_run_list(
        connector=params.connector, status=params.status, sponsor_id=params.sponsor_id, trigger=params.trigger
    )
    return {"items": [run_out(r) for r in qs[params.offset : params.offset + params.limit]], "count": qs.count()}


@router.get(
    "/sync/runs/{run_id}",
    response={200: SyncRunDetailOut, **error_responses(404)},
    summary="One run with its per-record errors and conflicts",
)
def get_run(request: HttpRequest, run_id: DbId) -> dict[str, Any]:
    try:
        run = selectors.sync_run_get(run_id=run_id)
    except SyncRun.DoesNotExist:
        raise ApiError(404, f"No sync run with id {run_id}.") from None
    errors = selectors.sync_run_record_errors(run=run)[:500]
    return {
        **run_out(run),
        "details": run.details or {},
        "record_errors": [
            {"id": e.pk, "kind": e.kind, "external_id": e.external_id, "message": e.message, "detail": e.detail or {}}
            for e in errors
        ],
    }


@router.get(
    "/sync/connectors",
    response={200: list[ConnectorOut], **error_responses()},
    summary="Each connector: live or demo, last success, last error",
)
def list_connectors(request: HttpRequest) -> list[dict[str, Any]]:
    reject_unknown_query(request)
    return [health.as_dict() for health in selectors.connector_health()]


@router.get("/scheduler/status", response={200: SchedulerStatusOut, **error_responses()}, summary="Scheduler status")
def scheduler_status(request: HttpRequest) -> dict[str, Any]:
    return _status_out()


@router.post(
    "/scheduler/stop",
    response={200: SchedulerChangeOut, **error_responses(403)},
    summary="Pause the integration schedules (staff)",
)
def scheduler_stop(request: HttpRequest) -> dict[str, Any]:
    changed = scheduler.scheduler_pause(actor=_require_staff(request))
    return {"changed": changed, "status": _status_out()}


@router.post(
    "/scheduler/start",
    response={200: SchedulerChangeOut, **error_responses(403)},
    summary="Resume the integration schedules (staff)",
)
def scheduler_start(request: HttpRequest) -> dict[str, Any]:
    changed = scheduler.scheduler_resume(actor=_require_staff(request))
    return {"changed": changed, "status": _status_out()}


@router.post(
    "/scheduler/sync-now",
    response={202: SyncNowOut, **error_responses(403, 404)},
    summary="Run a schedule's job now, or every integration job (staff)",
)
def scheduler_sync_now(request: HttpRequest, payload: SyncNowIn | None = None) -> Status[dict[str, Any]]:
    actor = _require_staff(request)
    job = payload.job if payload is not None else None
    try:
        queued = scheduler.scheduler_run_now(actor=actor, job=job)
    except scheduler.UnknownSchedule:
        raise ApiError(404, f"No schedule named {job!r}; see GET /api/v1/scheduler/status.") from None
    return Status(202, {"queued": queued})
