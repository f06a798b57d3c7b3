"""Background jobs through django-q2, queued only once the surrounding transaction commits."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(func: str, *args: Any, task_name: str | None = None, kwargs: dict[str, Any] | None = None) -> None:
    """Queue `func(*args, **kwargs)` after commit. SYNC_JOBS_INLINE=True runs it in-process instead
    (tests, or a deployment without a cluster). A broker outage is logged, not raised: queued
    runs are picked up by the next scheduled pull."""

    def send() -> None:
        from django_q.tasks import async_task

        options: dict[str, Any] = {"sync": bool(getattr(settings, "SYNC_JOBS_INLINE", False))}
        if task_name:
            options["task_name"] = task_name[:100]
        try:
            async_task(func, *args, **(kwargs or {}), **options)
        except Exception:
            logger.exception("Could not queue %s%r", func, args)

    transaction.on_commit(send)
