"""Reads for leads: lists and pages, the conflict inbox, the sync's view of every lead."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Count, Q, QuerySet

from integrations.models import SyncRecordError, SyncRun
from leads.models import SYNCED_FIELDS, Lead, LeadConflict
from leads.sync_plan import LeadState
from tasks.models import Task

CONNECTOR = "google_sheets"


def lead_list(*, status: str | None = None, q: str | None = None, include_removed: bool = True) -> QuerySet[Lead]:
    """Leads with their task and the number of open conflicts (`open_conflicts`)."""
    qs = Lead.objects.select_related("task").annotate(
        open_conflicts=Count("conflicts", filter=Q(conflicts__resolved_at__isnull=True))
    )
    if status:
        qs = qs.filter(status=status)
    if q:
        qs = qs.search(q)
    if not include_removed:
        qs = qs.filter(removed_at__isnull=True)
    return qs.order_by("sheet_id")


def lead_get(*, lead_id: int) -> Lead:
    """Raises Lead.DoesNotExist."""
    return lead_list().get(pk=lead_id)


def lead_conflicts(*, lead: Lead | None = None, open_only: bool = True) -> QuerySet[LeadConflict]:
    qs = LeadConflict.objects.select_related("lead")
    if lead is not None:
        qs = qs.filter(lead=lead)
    if open_only:
        qs = qs.open()
    return qs.order_by("-created_at", "-id")


def conflict_get(*, conflict_id: int) -> LeadConflict:
    """Raises LeadConflict.DoesNotExist."""
    return LeadConflict.objects.select_related("lead", "lead__task").get(pk=conflict_id)


def lead_sync_runs(*, limit: int = 10) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(connector=CONNECTOR).order_by("-started_at", "-id")[:limit]


def last_finished_run() -> SyncRun | None:
    return SyncRun.objects.filter(connector=CONNECTOR).finished().order_by("-started_at", "-id").first()


def bad_rows(*, run: SyncRun | None) -> QuerySet[SyncRecordError]:
    """The rows the run skipped (the sheet problems a person should fix)."""
    if run is None:
        return SyncRecordError.objects.none()
    return SyncRecordError.objects.filter(run=run, kind=SyncRecordError.Kind.ERROR).order_by("id")


def lead_status_counts() -> dict[str, int]:
    rows = Lead.objects.filter(removed_at__isnull=True).values("status").annotate(n=Count("id"))
    counts = dict.fromkeys(Lead.Status.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


# --- for the sync ----------------------------------------------------------------------------------
_STATE_FIELDS = (
    "pk",
    "sheet_id",
    *SYNCED_FIELDS,
    "task_id",
    "task__status",
    "task__title",
    "task__removed_at",
    "sync_baseline",
    "removed_at",
    "sync_error",
    "sheet_row",
)


def lead_states_for_sync(*, pks: list[int] | None = None, for_update: bool = False) -> dict[str, LeadState]:
    """Every lead (or those of `pks`) with its task, as plain values keyed by sheet id; with
    `for_update` the lead rows stay locked until the transaction ends."""
    qs = Lead.objects.all()
    if pks is not None:
        qs = qs.filter(pk__in=pks)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    out = {}
    for row in qs.order_by().values(*_STATE_FIELDS).iterator(chunk_size=5000):
        out[row["sheet_id"]] = LeadState(
            pk=row["pk"],
            sheet_id=row["sheet_id"],
            values={name: row[name] for name in SYNCED_FIELDS},
            task_id=row["task_id"],
            task_status=row["task__status"],
            task_title=row["task__title"],
            task_removed=row["task__removed_at"] is not None,
            baseline=row["sync_baseline"],
            removed_at=row["removed_at"],
            sync_error=row["sync_error"],
            sheet_row=row["sheet_row"],
        )
    return out


def adoptable_tasks(*, rows: dict[str, Any], leads: dict[str, LeadState]) -> dict[str, uuid.UUID]:
    """Lead-sheet tasks that no lead holds, which the row of the same id takes back (e.g.
    after a lead was deleted in the admin): a lead keeps one task, never a second."""
    wanted = [sheet_id for sheet_id in rows if sheet_id not in leads or leads[sheet_id].task_id is None]
    if not wanted:
        return {}
    found: dict[str, uuid.UUID] = {}
    qs = Task.objects.filter(source=Task.Source.SHEET, canonical_lead__isnull=True)
    for pk, external_id in qs.filter(external_id__in=wanted).values_list("pk", "external_id"):
        found[external_id] = pk
    return found
