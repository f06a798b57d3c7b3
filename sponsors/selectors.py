"""Reads for sponsors, shared by the dashboard and the API (no N+1: counts are annotated)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, Count, Min, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from integrations.connectors import get_connector_class
from integrations.models import ConnectorState, SyncRun
from integrations.selectors import connector_states, latest_runs
from sponsors.models import PULL_SOURCES, Sponsor, sponsor_scope
from tasks.models import Task


def sponsor_list(*, q: str | None = None, is_active: bool | None = None) -> QuerySet[Sponsor]:
    """Sponsors by name, each with `task_count`, `open_count` and `overdue_count`."""
    now = timezone.now()
    live = Q(tasks__removed_at__isnull=True)
    qs = Sponsor.objects.select_related("owner").annotate(
        task_count=Count("tasks", filter=live),
        open_count=Count("tasks", filter=live & ~Q(tasks__status=Task.Status.DONE)),
        overdue_count=Count("tasks", filter=live & ~Q(tasks__status=Task.Status.DONE) & Q(tasks__due_at__lt=now)),
    )
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(contact_email__icontains=q))
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    return qs.order_by("name", "pk")


def sponsor_get(*, sponsor_id: int) -> Sponsor:
    """One sponsor with its counts; raises Sponsor.DoesNotExist."""
    return sponsor_list().get(pk=sponsor_id)


def sponsor_tasks(
    *, sponsor: Sponsor, status: str | None = None, source: str | None = None, include_removed: bool = False
) -> QuerySet[Task]:
    qs = Task.objects.select_related("assignee", "sponsor", "lead").filter(sponsor=sponsor)
    if not include_removed:
        qs = qs.filter(removed_at__isnull=True)
    if status:
        qs = qs.filter(status=status)
    if source:
        qs = qs.filter(source=source)
    return qs.order_by("status", "position", "id")


@dataclass
class SourceSync:
    """How one platform's pull of one sponsor stands."""

    source: str
    label: str
    platform_id: str
    live: bool
    last_run: SyncRun | None = None
    state: ConnectorState | None = None

    @property
    def mapped(self) -> bool:
        return bool(self.platform_id)

    @property
    def last_success_at(self) -> dt.datetime | None:
        return self.state.last_success_at if self.state else None

    @property
    def needs_reauth(self) -> bool:
        return bool(self.state and self.state.needs_reauth)

    def as_dict(self) -> dict[str, Any]:
        run = self.last_run
        return {
            "source": self.source,
            "label": self.label,
            "platform_id": self.platform_id,
            "mode": "live" if self.live else "demo",
            "last_success_at": self.last_success_at,
            "last_error": self.state.last_error if self.state and self.state.is_failing else "",
            "needs_reauth": self.needs_reauth,
            "last_run": None
            if run is None
            else {"id": run.pk, "status": run.status, "started_at": run.started_at, "finished_at": run.finished_at},
        }


@dataclass
class SponsorOverview:
    """The sponsor's 360° view: tasks by source and status, overdue, each platform's sync."""

    sponsor: Sponsor
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    removed: int = 0
    sources: list[SourceSync] = field(default_factory=list)

    @property
    def fresh_as_of(self) -> dt.datetime | None:
        """The oldest last success over the mapped platforms (what the data is at least as fresh as)."""
        stamps = [s.last_success_at for s in self.sources if s.mapped]
        return None if not stamps or None in stamps else min(stamps)  # type: ignore[type-var]


def sponsor_overview(*, sponsor: Sponsor) -> SponsorOverview:
    """Counts in two queries, sync state in two more."""
    overview = SponsorOverview(sponsor=sponsor)
    live = Task.objects.filter(sponsor=sponsor, removed_at__isnull=True)
    for row in live.values("source", "status").annotate(n=Count("id")):
        overview.counts.setdefault(row["source"], dict.fromkeys(Task.Status.values, 0))[row["status"]] = row["n"]
    for status in Task.Status.values:
        overview.totals[status] = sum(by_status.get(status, 0) for by_status in overview.counts.values())
    overview.overdue = live.overdue().count()
    overview.removed = Task.objects.filter(sponsor=sponsor, removed_at__isnull=False).count()
    runs = latest_runs(scope=sponsor.sync_scope)
    states = connector_states(scope=sponsor.sync_scope)
    for source in PULL_SOURCES:
        cls = get_connector_class(source)
        overview.sources.append(
            SourceSync(
                source=source,
                label=cls.label,
                platform_id=sponsor.platform_id(source),
                live=cls.is_configured(),
                last_run=runs.get(source),
                state=states.get(source),
            )
        )
    return overview


def sponsor_fresh_as_of(*, sponsor_id: int | None) -> dt.datetime | None:
    """For task pages: when this sponsor's data was last pulled successfully (oldest platform)."""
    if sponsor_id is None:
        return None
    sponsor = Sponsor.objects.filter(pk=sponsor_id).first()
    return sponsor_overview(sponsor=sponsor).fresh_as_of if sponsor else None


def pull_fresh_as_of(*, task: Task | None = None) -> dt.datetime | None:
    """When the pulled data was last confirmed by its platform: for one pulled task, its
    sponsor's last successful pull from its source; without a task, the oldest last success
    over every active sponsor's pulls (what the whole list is at least as fresh as)."""
    if task is not None:
        if task.source not in PULL_SOURCES or task.sponsor_id is None:
            return None
        state = ConnectorState.objects.filter(connector=task.source, scope=sponsor_scope(task.sponsor_id)).first()
        return state.last_success_at if state else None
    # One query: the active sponsors' scopes as a subquery ("sponsor:<id>", as sponsor_scope).
    scopes = Sponsor.objects.active().annotate(
        scope=Concat(Value("sponsor:"), Cast("pk", output_field=CharField()), output_field=CharField())
    )
    return (
        ConnectorState.objects.filter(connector__in=PULL_SOURCES, scope__in=scopes.values("scope"))
        .aggregate(oldest=Min("last_success_at"))
        .get("oldest")
    )
