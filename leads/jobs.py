"""django-q2 entry points for the lead sheet sync (thin: keys in, one service call each)."""

from __future__ import annotations

import datetime as dt

from integrations.connectors.google_sheets import GoogleSheetsConnector
from integrations.models import SyncRun
from integrations.services import breaker_allows
from leads import services
from leads.selectors import CONNECTOR


def lead_sync_scheduled(now: dt.datetime | None = None, trigger: str = SyncRun.Trigger.SCHEDULE) -> str:
    """The schedule (every 5 minutes): one incremental sync, unless one is already running or
    the sheet's circuit breaker is open and its next try is after `now` (then no run at all).
    "Run now" on the sync centre calls it with a manual trigger, which always tries."""
    scheduled = trigger == SyncRun.Trigger.SCHEDULE
    if scheduled and not breaker_allows(connector=CONNECTOR, scope=GoogleSheetsConnector.settings_scope(), now=now):
        return "skipped: paused after repeated failures"
    run = services.lead_sheet_sync(trigger=trigger)
    skip = getattr(run, "skip_reason", "")
    return f"run {run.pk}: {'skipped, ' + skip if skip else run.status}"


def lead_sync_one(trigger: str = SyncRun.Trigger.API, run_id: int | None = None, initial: bool = False) -> str:
    """Perform the queued run `run_id` (from the API or the dashboard)."""
    run = services.lead_sheet_sync(trigger=trigger, run_id=run_id, initial=bool(initial))
    skip = getattr(run, "skip_reason", "")
    return f"run {run.pk}: {'skipped, ' + skip if skip else run.status}"
