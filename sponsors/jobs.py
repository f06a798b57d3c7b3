"""django-q2 entry points for the sponsor pull (thin: ids in, one service call each)."""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone

from integrations.models import SyncRun
from integrations.queue import enqueue
from integrations.services import breaker_allows, sync_run_queue, sync_runs_prune
from sponsors import services
from sponsors.models import Sponsor

logger = logging.getLogger(__name__)


def sponsor_pull_all(trigger: str = SyncRun.Trigger.SCHEDULE, now: dt.datetime | None = None) -> int:
    """The scheduled pull: queue one job per active sponsor × mapped platform, each isolated
    (one failing never stops the others; a pull still queued or running is not queued twice;
    a scheduled pull whose circuit breaker is open waits, without a run row, until its next
    try at `now` or later). Returns how many were queued."""
    queued = 0
    for sponsor in Sponsor.objects.active().order_by("pk"):
        for source in sponsor.mapped_sources():
            try:
                if trigger == SyncRun.Trigger.SCHEDULE and not breaker_allows(
                    connector=source, scope=sponsor.sync_scope, now=now
                ):
                    continue
                run, created = sync_run_queue(
                    connector=source, scope=sponsor.sync_scope, trigger=trigger, sponsor_id=sponsor.pk
                )
            except Exception:
                logger.exception("Could not queue the %s pull of sponsor %s", source, sponsor.pk)
                continue
            if created:
                enqueue("sponsors.jobs.sponsor_pull_one", sponsor.pk, source, trigger, run.pk, task_name=f"pull {run}")
                queued += 1
    try:
        sync_runs_prune()
    except Exception:
        logger.exception("Could not prune old sync runs")
    return queued


def sponsor_pull_one(
    sponsor_id: int, source: str, trigger: str = SyncRun.Trigger.SCHEDULE, run_id: int | None = None
) -> str:
    """Pull one sponsor from one platform (performing the queued run `run_id` if given)."""
    sponsor = Sponsor.objects.filter(pk=sponsor_id).first()
    if sponsor is None or not sponsor.platform_id(source):
        if run_id is not None:
            SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error="The sponsor was deleted or unmapped before the pull started.",
            )
        return "skipped: sponsor gone or not mapped"
    run = services.sponsor_sync(sponsor=sponsor, source=source, trigger=trigger, run_id=run_id)
    skip = getattr(run, "skip_reason", "")
    return f"run {run.pk}: {'skipped, ' + skip if skip else run.status}"
