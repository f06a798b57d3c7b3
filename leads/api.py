"""/api/v1/leads: leads, edits that go to the sheet on the next sync, the sync itself (or its
dry run) and the conflict inbox (thin: parse, call one service or selector, render)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from accounts.actor import ORIGIN_API, Actor
from integrations.connectors.base import ConnectorError
from integrations.connectors.google_sheets import GoogleSheetsConnector
from integrations.models import SyncRun
from leads import selectors, services
from leads.models import SYNCED_FIELDS, Lead, LeadConflict
from leads.sheet_rows import SheetLayoutError
from tracker_project.api_errors import ApiError, reject_unknown_query
from tracker_project.api_fields import DbId, JsonBool, SafeText
from tracker_project.api_schemas import error_responses

router = Router(tags=["leads"])

LeadStatusT = Literal["NEW", "CONTACTED", "QUALIFIED", "LOST"]
Text = Annotated[SafeText, Field(max_length=1000)]


class LeadOut(Schema):
    id: int
    sheet_id: str
    name: str
    email: str
    status: LeadStatusT
    source: str
    task_id: uuid.UUID | None
    task_status: str | None
    synced_at: dt.datetime | None
    removed_at: dt.datetime | None = Field(description="Set when the lead's row vanished from the sheet.")
    sync_error: str = Field(description="Why the lead's row was skipped at the last sync (a bad row).")
    open_conflicts: int
    pending_sync: list[str] = Field(description="Fields changed in Tracker that the next sync writes to the sheet.")
    created_at: dt.datetime
    updated_at: dt.datetime


class LeadListOut(Schema):
    items: list[LeadOut]
    count: int


class LeadListQuery(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)
    status: LeadStatusT | None = None
    q: Annotated[SafeText, Field(max_length=200)] | None = None
    include_removed: bool = Field(True, description="Also list leads whose row was deleted from the sheet.")


class LeadPatch(Schema):
    """Only the fields sent change; the sheet gets them on the next sync."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    email: Text | None = None
    status: LeadStatusT | None = None
    source: Text | None = None


class LeadIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Text
    email: Text = ""
    status: LeadStatusT = "NEW"
    source: Text = ""
    sheet_id: Annotated[SafeText, Field(max_length=100)] | None = Field(None, description='Default: the next "lead-N".')


class LeadSyncIn(Schema):
    model_config = ConfigDict(extra="forbid")

    initial: JsonBool = Field(False, description="Create a task for every lead without one.")
    dry_run: JsonBool = Field(False, description="Return the plan (200) and write nothing.")


class ChangeOut(Schema):
    side: Literal["tracker", "sheet"]
    field: str
    from_: Any = Field(None, alias="from")
    to: Any
    reason: str


class PlanItemOut(Schema):
    sheet_id: str
    lead_id: int | None
    name: str
    row: int | None
    kind: str
    changes: list[ChangeOut]
    conflicts: list[dict[str, Any]]


class BadRowOut(Schema):
    row: int
    sheet_id: str
    message: str


class PlanOut(Schema):
    dry_run: bool
    mode: Literal["live", "demo"]
    summary: dict[str, Any]
    items: list[PlanItemOut]
    bad_rows: list[BadRowOut]


class LeadSyncAcceptedOut(Schema):
    run_id: int
    status: str
    queued: bool


class ConflictOut(Schema):
    id: int
    lead_id: int
    sheet_id: str
    field: str
    baseline_value: str
    sheet_value: str
    tracker_value: str
    created_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution: str
    resolved_by: str


class ConflictListOut(Schema):
    items: list[ConflictOut]
    count: int


class ConflictQuery(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)
    state: Literal["open", "all"] = "open"


class ResolveIn(Schema):
    model_config = ConfigDict(extra="forbid")

    side: Literal["sheet", "tracker"] = Field(description="Whose value to keep.")


def pending_fields(lead: Lead) -> list[str]:
    base = lead.sync_baseline
    if base is None:
        return ["row"] if lead.removed_at is None else []
    return [f for f in SYNCED_FIELDS if f in base and base[f] != getattr(lead, f)]


def lead_out(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.pk,
        "sheet_id": lead.sheet_id,
        "name": lead.name,
        "email": lead.email,
        "status": lead.status,
        "source": lead.source,
        "task_id": lead.task_id,
        "task_status": lead.task.status if lead.task_id else None,
        "synced_at": lead.synced_at,
        "removed_at": lead.removed_at,
        "sync_error": lead.sync_error,
        "open_conflicts": getattr(lead, "open_conflicts", 0),
        "pending_sync": pending_fields(lead),
        "created_at": lead.created_at,
        "updated_at": lead.updated_at,
    }


def conflict_out(conflict: LeadConflict) -> dict[str, Any]:
    return {
        "id": conflict.pk,
        "lead_id": conflict.lead_id,
        "sheet_id": conflict.lead.sheet_id,
        "field": conflict.field,
        "baseline_value": conflict.baseline_value,
        "sheet_value": conflict.sheet_value,
        "tracker_value": conflict.tracker_value,
        "created_at": conflict.created_at,
        "resolved_at": conflict.resolved_at,
        "resolution": conflict.resolution,
        "resolved_by": conflict.resolved_by,
    }


def plan_out(plan: Any) -> dict[str, Any]:
    return {
        "dry_run": True,
        "mode": "live" if GoogleSheetsConnector.is_configured() else "demo",
        "summary": plan.summary(),
        "items": [item.as_dict() for item in plan.items],
        "bad_rows": [{"row": e.row, "sheet_id": e.sheet_id, "message": e.message} for e in plan.errors],
    }


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, origin=ORIGIN_API)


def _get(lead_id: int) -> Lead:
    try:
        return selectors.lead_get(lead_id=lead_id)
    except Lead.DoesNotExist:
        raise ApiError(404, f"No lead with id {lead_id}.") from None


def _validation(exc: DjangoValidationError) -> ApiError:
    if hasattr(exc, "error_dict"):
        return ApiError(422, [{"loc": ["body", f], "msg": " ".join(m)} for f, m in exc.message_dict.items()])
    return ApiError(422, [{"loc": ["body"], "msg": " ".join(exc.messages)}])


@router.post(
    "/leads/sync",
    response={200: PlanOut, 202: LeadSyncAcceptedOut, **error_responses(409, 502)},
    summary="Sync the lead sheet now (queued; 202 with the run id), or its dry run (200 with the plan)",
    by_alias=True,
)
def sync_leads(request: HttpRequest, payload: LeadSyncIn | None = None) -> Status[dict[str, Any]]:
    payload = payload or LeadSyncIn()
    if payload.dry_run:
        try:
            plan = services.lead_sheet_preview(initial=payload.initial)
        except SheetLayoutError as exc:
            raise ApiError(409, str(exc)) from None
        except ConnectorError as exc:
            raise ApiError(502, f"Could not read the sheet: {exc}") from None
        return Status(200, plan_out(plan))
    run = services.lead_sync_request(actor=_actor(request), trigger=SyncRun.Trigger.API, initial=payload.initial)
    run.refresh_from_db()
    return Status(202, {"run_id": run.pk, "status": run.status, "queued": run.is_queued})


@router.get("/leads/conflicts", response={200: ConflictListOut, **error_responses()}, summary="The conflict inbox")
def list_conflicts(request: HttpRequest, params: Query[ConflictQuery]) -> dict[str, Any]:
    reject_unknown_query(request, ConflictQuery)
    qs = selectors.lead_conflicts(open_only=params.state == "open")
    return {"items": [conflict_out(c) for c in qs[params.offset : params.offset + params.limit]], "count": qs.count()}


@router.post(
    "/leads/conflicts/{conflict_id}/resolve",
    response={200: ConflictOut, **error_responses(404, 409)},
    summary="Settle a held conflict: keep the sheet's or Tracker's value",
)
def resolve_conflict(request: HttpRequest, conflict_id: DbId, payload: ResolveIn) -> dict[str, Any]:
    try:
        conflict = selectors.conflict_get(conflict_id=conflict_id)
    except LeadConflict.DoesNotExist:
        raise ApiError(404, f"No conflict with id {conflict_id}.") from None
    try:
        conflict = services.lead_conflict_resolve(conflict=conflict, side=payload.side, actor=_actor(request))
    except services.ConflictAlreadyResolved as exc:
        raise ApiError(409, str(exc)) from None
    return conflict_out(selectors.conflict_get(conflict_id=conflict.pk))


@router.get("/leads", response={200: LeadListOut, **error_responses()}, summary="List leads")
def list_leads(request: HttpRequest, params: Query[LeadListQuery]) -> dict[str, Any]:
    reject_unknown_query(request, LeadListQuery)
    qs = selectors.lead_list(status=params.status, q=params.q, include_removed=params.include_removed)
    return {"items": [lead_out(x) for x in qs[params.offset : params.offset + params.limit]], "count": qs.count()}


@router.post("/leads", response={201: LeadOut, **error_responses(409)}, summary="Add a lead (appended to the sheet)")
def create_lead(request: HttpRequest, payload: LeadIn) -> Status[dict[str, Any]]:
    try:
        lead = services.lead_create(actor=_actor(request), **payload.model_dump())
    except services.LeadIdTaken as exc:
        raise ApiError(409, str(exc)) from None
    except DjangoValidationError as exc:
        raise _validation(exc) from None
    return Status(201, lead_out(_get(lead.pk)))


@router.get("/leads/{lead_id}", response={200: LeadOut, **error_responses(404)}, summary="A lead")
def get_lead(request: HttpRequest, lead_id: DbId) -> dict[str, Any]:
    return lead_out(_get(lead_id))


@router.patch(
    "/leads/{lead_id}",
    response={200: LeadOut, **error_responses(404)},
    summary="Edit a lead (its task moves now; the sheet changes on the next sync)",
)
def patch_lead(request: HttpRequest, lead_id: DbId, payload: LeadPatch) -> dict[str, Any]:
    lead = _get(lead_id)
    sent = payload.model_dump(exclude_unset=True)
    for field, value in sent.items():
        if value is None and field in ("name", "status"):
            raise ApiError(422, [{"loc": ["body", field], "msg": f"{field} cannot be null."}])
    sent = {k: ("" if v is None else v) for k, v in sent.items()}
    try:
        services.lead_update(lead=lead, actor=_actor(request), **sent)
    except DjangoValidationError as exc:
        raise _validation(exc) from None
    return lead_out(_get(lead_id))
