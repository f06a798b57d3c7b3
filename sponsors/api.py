"""/api/v1/sponsors: sponsors, their tasks, and a pull on demand (thin: parse, call, render)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator, ConfigDict

from accounts.actor import ORIGIN_API, Actor
from integrations.models import SyncRun
from sponsors import selectors, services
from sponsors.models import Sponsor
from tasks.api import TaskOut, task_out
from tracker_project.api_errors import ApiError, reject_unknown_query
from tracker_project.api_fields import DbId, SafeText
from tracker_project.api_schemas import error_responses

router = Router(tags=["sponsors"])
Username = Annotated[SafeText, Field(min_length=1, max_length=150)]

SourceT = Literal["salesforce", "asana", "google_calendar"]
TaskSourceT = Literal["manual", "salesforce", "asana", "google_calendar", "sheet"]
StatusT = Literal["todo", "in_progress", "done"]


def _name(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("Name must not be blank.")
    if len(value) > 200:
        raise ValueError("Name must be at most 200 characters.")
    return value


def _email(value: str) -> str:
    value = value.strip()
    if value:
        try:
            validate_email(value)
        except DjangoValidationError:
            raise ValueError("Enter a valid email address.") from None
    return value


def _salesforce_id(value: str) -> str:
    value = value.strip()
    if value and not (len(value) in (15, 18) and value.isascii() and value.isalnum()):
        raise ValueError("A Salesforce Account Id is 15 or 18 letters and digits.")
    return value


def _asana_gid(value: str) -> str:
    value = value.strip()
    if value and not (value.isascii() and value.isdigit()):
        raise ValueError("An Asana project gid is digits only.")
    return value


def _calendar_id(value: str) -> str:
    value = value.strip()
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("A Google Calendar id has no spaces.")
    return value


Name = Annotated[SafeText, Field(max_length=1000), AfterValidator(_name)]
Email = Annotated[SafeText, Field(max_length=254), AfterValidator(_email)]
SalesforceId = Annotated[SafeText, Field(max_length=30), AfterValidator(_salesforce_id)]
AsanaGid = Annotated[SafeText, Field(max_length=64), AfterValidator(_asana_gid)]
CalendarId = Annotated[SafeText, Field(max_length=255), AfterValidator(_calendar_id)]


class SponsorIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Name
    contact_email: Email = ""
    salesforce_account_id: SalesforceId = Field("", description="The sponsor's Salesforce Account Id (001…).")
    asana_project_gid: AsanaGid = Field("", description="The gid of the sponsor's Asana project.")
    google_calendar_id: CalendarId = Field("", description="The sponsor's Google Calendar id.")
    owner: Username | None = Field(None, description="Username of the person responsible for the sponsor.")
    is_active: bool = Field(True, description="Inactive sponsors are not pulled by the schedule.")


class SponsorPatch(Schema):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    contact_email: Email | None = None
    salesforce_account_id: SalesforceId | None = None
    asana_project_gid: AsanaGid | None = None
    google_calendar_id: CalendarId | None = None
    owner: Username | None = Field(None, description="Username of the owner; null removes the owner.")
    is_active: bool | None = None


class SponsorOut(Schema):
    id: int
    name: str
    contact_email: str
    salesforce_account_id: str
    asana_project_gid: str
    google_calendar_id: str
    owner: str | None
    is_active: bool
    task_count: int = Field(description="Tasks linked to the sponsor (not counting ones removed upstream).")
    open_count: int
    overdue_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


class LastRunOut(Schema):
    id: int
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None


class SourceSyncOut(Schema):
    source: SourceT
    label: str
    platform_id: str
    mode: Literal["live", "demo"]
    last_success_at: dt.datetime | None
    last_error: str
    needs_reauth: bool
    last_run: LastRunOut | None


class SponsorDetailOut(SponsorOut):
    tasks_by_source: dict[str, dict[str, int]] = Field(description="{source: {status: count}}")
    removed_upstream: int
    fresh_as_of: dt.datetime | None = Field(description="Oldest last successful pull over the mapped platforms.")
    sync: list[SourceSyncOut]


class SponsorListOut(Schema):
    items: list[SponsorOut]
    count: int


class SponsorListQuery(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)
    q: Annotated[SafeText, Field(max_length=200)] | None = None
    is_active: bool | None = None


class SponsorTaskOut(TaskOut):
    external_url: str
    removed_at: dt.datetime | None
    synced_at: dt.datetime | None


class SponsorTaskListOut(Schema):
    items: list[SponsorTaskOut]
    count: int


class SponsorTaskQuery(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)
    status: StatusT | None = None
    source: TaskSourceT | None = None
    include_removed: bool = Field(False, description="Also list tasks whose record vanished upstream.")


class SponsorSyncIn(Schema):
    model_config = ConfigDict(extra="forbid")

    sources: list[SourceT] | None = Field(None, max_length=3, description="Default: every mapped platform.")


class SponsorSyncRunOut(Schema):
    id: int
    connector: str
    status: str
    trigger: str
    queued: bool
    started_at: dt.datetime


class SponsorSyncAcceptedOut(Schema):
    run_ids: list[int]
    runs: list[SponsorSyncRunOut]


def sponsor_out(sponsor: Sponsor) -> dict[str, Any]:
    return {
        "id": sponsor.pk,
        "name": sponsor.name,
        "contact_email": sponsor.contact_email,
        "salesforce_account_id": sponsor.salesforce_account_id,
        "asana_project_gid": sponsor.asana_project_gid,
        "google_calendar_id": sponsor.google_calendar_id,
        "owner": sponsor.owner.get_username() if sponsor.owner_id else None,
        "is_active": sponsor.is_active,
        "task_count": getattr(sponsor, "task_count", 0),
        "open_count": getattr(sponsor, "open_count", 0),
        "overdue_count": getattr(sponsor, "overdue_count", 0),
        "created_at": sponsor.created_at,
        "updated_at": sponsor.updated_at,
    }


def _get(sponsor_id: int) -> Sponsor:
    try:
        return selectors.sponsor_get(sponsor_id=sponsor_id)
    except Sponsor.DoesNotExist:
        raise ApiError(404, f"No sponsor with id {sponsor_id}.") from None


def _owner(username: str | None) -> Any:
    """The active user with this username (None for None); an unknown one is a 422."""
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ApiError(422, [{"loc": ["body", "owner"], "msg": f"No active user named {username!r}."}])
    return user


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, origin=ORIGIN_API)


@router.post("/sponsors", response={201: SponsorOut, **error_responses(409)}, summary="Create a sponsor")
def create_sponsor(request: HttpRequest, payload: SponsorIn) -> Status[dict[str, Any]]:
    values = payload.model_dump()
    values["owner"] = _owner(values["owner"])
    try:
        sponsor = services.sponsor_create(actor=_actor(request), **values)
    except services.SponsorNameTaken as exc:
        raise ApiError(409, str(exc)) from None
    return Status(201, sponsor_out(_get(sponsor.pk)))


@router.get("/sponsors", response={200: SponsorListOut, **error_responses()}, summary="List sponsors")
def list_sponsors(request: HttpRequest, params: Query[SponsorListQuery]) -> dict[str, Any]:
    reject_unknown_query(request, SponsorListQuery)
    qs = selectors.sponsor_list(q=params.q, is_active=params.is_active)
    return {
        "items": [sponsor_out(s) for s in qs[params.offset : params.offset + params.limit]],
        "count": qs.count(),
    }


@router.get(
    "/sponsors/{sponsor_id}",
    response={200: SponsorDetailOut, **error_responses(404)},
    summary="A sponsor's 360° view: counts, freshness and each platform's last pull",
)
def get_sponsor(request: HttpRequest, sponsor_id: DbId) -> dict[str, Any]:
    sponsor = _get(sponsor_id)
    overview = selectors.sponsor_overview(sponsor=sponsor)
    return {
        **sponsor_out(sponsor),
        "tasks_by_source": overview.counts,
        "removed_upstream": overview.removed,
        "fresh_as_of": overview.fresh_as_of,
        "sync": [s.as_dict() for s in overview.sources],
    }


@router.patch(
    "/sponsors/{sponsor_id}", response={200: SponsorOut, **error_responses(404, 409)}, summary="Update a sponsor"
)
def patch_sponsor(request: HttpRequest, sponsor_id: DbId, payload: SponsorPatch) -> dict[str, Any]:
    sponsor = _get(sponsor_id)
    sent = payload.model_dump(exclude_unset=True)
    for field, value in sent.items():
        if value is None and field in ("name", "is_active"):
            raise ApiError(422, [{"loc": ["body", field], "msg": f"{field} cannot be null."}])
    owner_sent = "owner" in sent
    owner = _owner(sent.pop("owner", None))
    sent = {k: ("" if v is None else v) for k, v in sent.items()}
    if owner_sent:
        sent["owner"] = owner
    try:
        services.sponsor_update(sponsor=sponsor, actor=_actor(request), **sent)
    except services.SponsorNameTaken as exc:
        raise ApiError(409, str(exc)) from None
    return sponsor_out(_get(sponsor_id))


@router.delete(
    "/sponsors/{sponsor_id}",
    response={204: None, **error_responses(404)},
    summary="Delete a sponsor with its pulled tasks (its other tasks stay, unlinked)",
)
def delete_sponsor(request: HttpRequest, sponsor_id: DbId) -> Status[None]:
    services.sponsor_delete(sponsor=_get(sponsor_id), actor=_actor(request))
    return Status(204, None)


def _sponsor_task_out(task: Any) -> dict[str, Any]:
    return {
        **task_out(task),
        "external_url": task.external_url,
        "removed_at": task.removed_at,
        "synced_at": task.synced_at,
    }


@router.get(
    "/sponsors/{sponsor_id}/tasks",
    response={200: SponsorTaskListOut, **error_responses(404)},
    summary="The sponsor's tasks, from every source",
)
def sponsor_tasks(request: HttpRequest, sponsor_id: DbId, params: Query[SponsorTaskQuery]) -> dict[str, Any]:
    reject_unknown_query(request, SponsorTaskQuery)
    sponsor = _get(sponsor_id)
    qs = selectors.sponsor_tasks(
        sponsor=sponsor, status=params.status, source=params.source, include_removed=params.include_removed
    )
    return {
        "items": [_sponsor_task_out(t) for t in qs[params.offset : params.offset + params.limit]],
        "count": qs.count(),
    }


def _run_brief(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "connector": run.connector,
        "status": run.status,
        "trigger": run.trigger,
        "queued": run.is_queued,
        "started_at": run.started_at,
    }


@router.post(
    "/sponsors/{sponsor_id}/sync",
    response={202: SponsorSyncAcceptedOut, **error_responses(404, 409)},
    summary="Pull the sponsor's tasks now (queued; poll GET /sync/runs/{id})",
)
def sync_sponsor(
    request: HttpRequest, sponsor_id: DbId, payload: SponsorSyncIn | None = None
) -> Status[dict[str, Any]]:
    sponsor = _get(sponsor_id)
    sources = payload.sources if payload is not None else None
    if sources:
        unmapped = [s for s in sources if not sponsor.platform_id(s)]
        if unmapped:
            raise ApiError(409, f"{sponsor.name} has no id on: {', '.join(unmapped)}. Map it first.")
    try:
        runs = services.sponsor_sync_request(
            sponsor=sponsor, actor=_actor(request), trigger=SyncRun.Trigger.API, sources=sources
        )
    except services.SponsorNotMapped as exc:
        raise ApiError(409, str(exc)) from None
    return Status(202, {"run_ids": [r.pk for r in runs], "runs": [_run_brief(r) for r in runs]})
