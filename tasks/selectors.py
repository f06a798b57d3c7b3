"""Reads for tasks, shared by the dashboard and the API (relations preloaded: no N+1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

from django.db.models import QuerySet

from accounts.models import AuditEvent
from tasks.models import Task

ORDERINGS = {
    "position": ("status", "position", "id"),
    "due_at": ("due_at", "position", "id"),
    "-updated_at": ("-updated_at", "id"),
    "priority": ("priority_rank", "position", "id"),
    "-due_at": ("-due_at", "id"),
    "title": ("title", "id"),
    "-created_at": ("-created_at", "id"),
}


@dataclass(frozen=True)
class TaskFilters:
    """The filters of the task list, as the API and the dashboard list page accept them."""

    status: str | None = None
    priority: str | None = None
    source: str | None = None
    sponsor_id: int | None = None
    lead_id: int | None = None
    assignee: str | None = None
    due_before: dt.datetime | None = None
    due_after: dt.datetime | None = None
    overdue: bool | None = None
    q: str | None = None
    order: str = "position"

    def is_filtered(self) -> bool:
        return any(getattr(self, f.name) not in (None, "") for f in fields(self) if f.name != "order")


def task_base_queryset() -> QuerySet[Task]:
    return Task.objects.select_related("assignee", "sponsor", "lead")


def task_list(*, filters: TaskFilters) -> QuerySet[Task]:
    """Tasks matching `filters`, ordered as asked (unknown order falls back to position)."""
    qs = task_base_queryset()
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.priority:
        qs = qs.filter(priority=filters.priority)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.sponsor_id is not None:
        qs = qs.filter(sponsor_id=filters.sponsor_id)
    if filters.lead_id is not None:
        qs = qs.filter(lead_id=filters.lead_id)
    if filters.assignee:
        qs = qs.filter(assignee__username=filters.assignee)
    if filters.due_before is not None:
        qs = qs.filter(due_at__lt=filters.due_before)
    if filters.due_after is not None:
        qs = qs.filter(due_at__gte=filters.due_after)
    if filters.overdue:
        qs = qs.overdue()
    elif filters.overdue is False:
        qs = qs.exclude(pk__in=Task.objects.overdue().values("pk"))
    if filters.q:
        qs = qs.search(filters.q)
    order = ORDERINGS.get(filters.order, ORDERINGS["position"])
    if "priority_rank" in order:
        qs = qs.with_priority_rank()
    return qs.order_by(*order)


def task_get(*, task_id: object) -> Task:
    """One task with its relations; raises Task.DoesNotExist."""
    return task_base_queryset().get(pk=task_id)


def task_board_columns(*, per_column: int = 200, filters: TaskFilters | None = None) -> dict[str, list[Task]]:
    """The first `per_column` tasks of each status column, in board order (one query per column)."""
    base = task_list(filters=filters or TaskFilters())
    return {
        status: list(base.filter(status=status).order_by("position", "id")[:per_column])
        for status in Task.Status.values
    }


def task_column_counts() -> dict[str, int]:
    from django.db.models import Count

    rows = Task.objects.values("status").annotate(n=Count("id"))
    counts = dict.fromkeys(Task.Status.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def task_history(*, task: Task) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.for_object(task).select_related("actor_user")
