"""django-q2 entry points for the campaign metrics sync (thin: keys in, one service call each).

The hourly schedule (minute 0) calls campaign_sync_all, which queues one job per platform
connector; each job upserts its look-back window and then evaluates the alert rules."""

from __future__ import annotations

import datetime as dt
import logging

from campaigns import services
from campaigns.alerts import alerts_evaluate
from integrations.connectors.metrics import METRICS_CONNECTORS
from integrations.models import SyncRun
from integrations.queue import enqueue
from integrations.services import breaker_allows, sync_run_queue

logger = logging.getLogger(__name__)


def campaign_sync_all(trigger: str = SyncRun.Trigger.SCHEDULE, now: dt.datetime | None = None) -> int:
    """Queue one metrics sync per connector, each isolated (one failing never stops the others;
    a sync still queued or running is not queued twice; a scheduled one whose circuit breaker
    is open waits for its next try). Returns how many were queued."""
    queued = 0
    for key in METRICS_CONNECTORS:
        try:
            if trigger == SyncRun.Trigger.SCHEDULE and not breaker_allows(connector=key, scope=services.SCOPE, now=now):
                continue
            run, created = sync_run_queue(connector=key, scope=services.SCOPE, trigger=trigger)
        except Exception:
            logger.exception("Could not queue the %s campaign sync", key)
            continue
        if created:
            enqueue("campaigns.jobs.campaign_sync_one", key, trigger, run.pk, task_name=f"campaign sync {run}")
            queued += 1
    return queued


def campaign_sync_one(
    connector_key: str,
    trigger: str = SyncRun.Trigger.SCHEDULE,
    run_id: int | None = None,
    days: int | None = None,
    channels: list[str] | None = None,
) -> str:
    """Sync one connector (performing the queued run `run_id` if given), then evaluate alerts."""
    run = services.campaign_metrics_sync(
        connector_key=connector_key, trigger=trigger, run_id=run_id, days=days, channels=channels
    )
    skip = getattr(run, "skip_reason", "")
    if not skip:
        outcome = alerts_evaluate()
        return f"run {run.pk}: {run.status}; alerts fired {outcome.fired}, recovered {outcome.recovered}"
    return f"run {run.pk}: skipped, {skip}"
