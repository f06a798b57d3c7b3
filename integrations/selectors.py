"""Reads for sync history and connector health, shared by the sync centre and the API."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet

from integrations.connectors import CONNECTORS, all_connector_paths, any_connector_class
from integrations.models import ConnectorState, SyncRecordError, SyncRun


def sync_run_list(
    *,
    connector: str | None = None,
    status: str | None = None,
    sponsor_id: int | None = None,
    trigger: str | None = None,
    scope: str | None = None,
) -> QuerySet[SyncRun]:
    """Runs, newest first, with their sponsor loaded."""
    qs = SyncRun.objects.select_related("sponsor")
    if connector:
        qs = qs.filter(connector=connector)
    if status:
        qs = qs.filter(status=status)
    if sponsor_id is not None:
        qs = qs.filter(sponsor_id=sponsor_id)
    if trigger:
        qs = qs.filter(trigger=trigger)
    if scope:
        qs = qs.filter(scope=scope)
    return qs.order_by("-started_at", "-id")


def sync_run_get(*, run_id: int) -> SyncRun:
    """One run with its sponsor; raises SyncRun.DoesNotExist."""
    return SyncRun.objects.select_related("sponsor").get(pk=run_id)


def sync_run_record_errors(*, run: SyncRun, kind: str | None = None) -> QuerySet[SyncRecordError]:
    qs = SyncRecordError.objects.filter(run=run)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("id")


def latest_runs(*, scope: str) -> dict[str, SyncRun]:
    """The newest run of each connector over `scope` (one indexed query per connector)."""
    newest: dict[str, SyncRun] = {}
    for key in CONNECTORS:
        run = SyncRun.objects.filter(scope=scope, connector=key).order_by("-started_at", "-id").first()
        if run is not None:
            newest[key] = run
    return newest


def connector_states(*, scope: str) -> dict[str, ConnectorState]:
    return {state.connector: state for state in ConnectorState.objects.filter(scope=scope)}


@dataclass
class ConnectorHealth:
    """One connector as the sync centre shows it."""

    key: str
    label: str
    live: bool
    credential_settings: tuple[str, ...]
    scopes: int = 0
    failing_scopes: int = 0
    needs_reauth: int = 0
    last_success_at: dt.datetime | None = None
    last_error: str = ""
    last_error_at: dt.datetime | None = None
    running: list[SyncRun] = field(default_factory=list)
    last_run: SyncRun | None = None
    schedule: Any = None  # the ScheduleState that runs it, when the caller looks it up
    # Scopes whose circuit breaker is open (integrations/breaker.py), soonest next try first.
    paused: list[ConnectorState] = field(default_factory=list)
    consecutive_failures: int = 0  # the longest failing streak over its scopes

    @property
    def paused_until(self) -> dt.datetime | None:
        """The next scheduled try of a paused scope (the soonest), or None when none is paused."""
        return self.paused[0].breaker_open_until if self.paused else None

    @property
    def mode(self) -> str:
        return "live" if self.live else "demo"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "mode": self.mode,
            "credential_settings": list(self.credential_settings),
            "scopes": self.scopes,
            "failing_scopes": self.failing_scopes,
            "needs_reauth": self.needs_reauth,
            "last_success_at": self.last_success_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "running_run_ids": [run.pk for run in self.running],
            "last_run_id": self.last_run.pk if self.last_run else None,
            "consecutive_failures": self.consecutive_failures,
            "paused_until": self.paused_until,
            "paused_scopes": [
                {
                    "scope": state.scope,
                    "consecutive_failures": state.consecutive_failures,
                    "paused_until": state.breaker_open_until,
                }
                for state in self.paused
            ],
        }


def connector_health() -> list[ConnectorHealth]:
    """Each registered connector: live or demo, last success and last error over all its
    scopes, how many scopes fail or need new credentials, which are paused by their circuit
    breaker, and its runs in progress."""
    rows = {
        row["connector"]: row
        for row in ConnectorState.objects.values("connector").annotate(
            scopes=Count("id"),
            needs_reauth=Count("id", filter=Q(needs_reauth=True)),
            last_success_at=Max("last_success_at"),
            last_error_at=Max("last_error_at"),
            consecutive_failures=Max("consecutive_failures"),
        )
    }
    paused: dict[str, list[ConnectorState]] = {}
    for state in ConnectorState.objects.filter(breaker_open_until__isnull=False).order_by("breaker_open_until"):
        paused.setdefault(state.connector, []).append(state)
    failing = {
        row["connector"]: row["n"]
        for row in ConnectorState.objects.filter(last_error_at__isnull=False)
        .filter(Q(last_success_at__isnull=True) | Q(last_error_at__gt=F("last_success_at")))
        .values("connector")
        .annotate(n=Count("id"))
    }
    running: dict[str, list[SyncRun]] = {}
    for run in SyncRun.objects.running().select_related("sponsor").order_by("started_at"):
        running.setdefault(run.connector, []).append(run)
    out = []
    for key in all_connector_paths():
        cls = any_connector_class(key)
        row = rows.get(key, {})
        health = ConnectorHealth(
            key=key,
            label=cls.label,
            live=cls.is_configured(),
            credential_settings=cls.credential_settings,
            scopes=row.get("scopes", 0),
            needs_reauth=row.get("needs_reauth", 0),
            failing_scopes=failing.get(key, 0),
            last_success_at=row.get("last_success_at"),
            last_error_at=row.get("last_error_at"),
            running=running.get(key, []),
            paused=paused.get(key, []),
            consecutive_failures=row.get("consecutive_failures") or 0,
        )
        if health.last_error_at is not None:
            latest_error = (
                ConnectorState.objects.filter(connector=key, last_error_at__isnull=False)
                .order_by("-last_error_at")
                .values_list("last_error", flat=True)
                .first()
            )
            health.last_error = latest_error or ""
        health.last_run = SyncRun.objects.filter(connector=key).order_by("-started_at", "-id").first()
        out.append(health)
    return out
