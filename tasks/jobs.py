"""django-q2 entry points for reminders, delivery, digests and enrichment (thin: lock, call, log).

django-q2 delivers at least once and nothing stops a slow run overlapping the next one, so each
function takes a lock first (a cache key added atomically, shared by every cluster through
Redis or the database cache) and the services beneath are idempotent anyway.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.actor import Actor
from tasks import delivery, enrichment, reminders
from tasks.models import Task

logger = logging.getLogger(__name__)

LOCK_PREFIX = "tracker:job-lock:"


def _lock_ttl() -> int:
    """Halfway between Q_TIMEOUT and the broker's retry: longer than a run can live (the cluster
    kills it a few seconds after Q_TIMEOUT), so a lock never expires under a live run; shorter
    than retry, so when a worker dies holding it, the job the broker hands out again is not
    skipped as "already running" (and then acknowledged: lost)."""
    timeout = int(getattr(settings, "Q_TIMEOUT", 300))
    retry = int(settings.Q_CLUSTER.get("retry", timeout + 60))
    return (timeout + retry) // 2


@contextmanager
def job_lock(name: str, *, ttl: int | None = None) -> Iterator[bool]:
    """Yield True if this process got the lock `name`, False if another run holds it.

    The lock expires by itself after `ttl` seconds, so a crashed worker cannot hold it forever.
    """
    key = LOCK_PREFIX + name
    token = uuid.uuid4().hex
    acquired = cache.add(key, token, timeout=ttl or _lock_ttl())
    try:
        yield acquired
    finally:
        if acquired and cache.get(key) == token:
            cache.delete(key)


def _locked(name: str, run: Callable[[], Any]) -> Any:
    with job_lock(name) as acquired:
        if not acquired:
            logger.info("Job %s is already running elsewhere; skipped.", name)
            return None
        result = run()
    logger.info("Job %s: %s", name, result)
    return result


def reminders_due_soon() -> int | None:
    return _locked("reminders_due_soon", lambda: reminders.due_soon_run(now=timezone.now()))


def reminders_overdue() -> int | None:
    return _locked("reminders_overdue", lambda: reminders.overdue_run(now=timezone.now()))


def reminders_stale() -> int | None:
    return _locked("reminders_stale", lambda: reminders.stale_run(now=timezone.now()))


def notifications_deliver() -> delivery.DeliveryReport | None:
    return _locked("notifications_deliver", lambda: delivery.notifications_deliver(now=timezone.now()))


def notifications_digest() -> int | None:
    return _locked("notifications_digest", lambda: reminders.digests_send(now=timezone.now()))


def enrichment_retry() -> int | None:
    return _locked("enrichment_retry", enrichment.enrichment_retry_pending)


def task_enrich(task_id: str) -> str | None:
    """Refresh one task's external item in the background (e.g. queued with async_task); a
    failure is recorded on the task and keeps its last good data, like every refresh."""

    def run() -> str:
        task = Task.objects.filter(pk=task_id).first()
        if task is None:
            return "gone"
        try:
            enrichment.task_enrich(task=task, actor=Actor.system_job("enrichment"))
        except enrichment.EnrichmentError as exc:
            logger.info("Enrichment of task %s: %s (%s)", task.pk, exc, exc.status)
        return task.enrichment_status

    return _locked(f"task_enrich:{task_id}", run)
