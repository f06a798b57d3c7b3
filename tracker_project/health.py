"""Liveness of the database and the django-q2 cluster (from the cluster's heartbeat)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone


def cluster_last_heartbeat() -> datetime | None:
    """When a django-q2 cluster last reported in (through the broker), or None."""
    try:
        from django_q.status import Stat

        stats = Stat.get_all()
    except Exception:  # noqa: BLE001  (a broker outage means "down", not an error page)
        return None
    stamps = [s.timestamp for s in stats if getattr(s, "timestamp", None) is not None]
    return max(stamps) if stamps else None


def health_report() -> tuple[int, dict[str, str]]:
    """Returns (HTTP status, body): 200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        database = "ok"
    except Exception:  # noqa: BLE001
        database = "error"
    heartbeat = cluster_last_heartbeat() if database == "ok" else None
    fresh = heartbeat is not None and timezone.now() - heartbeat < timedelta(seconds=settings.Q_HEARTBEAT_MAX_AGE)
    body = {
        "status": "ok" if database == "ok" else "error",
        "database": database,
        "cluster": "ok" if fresh else "down",
    }
    return (200 if database == "ok" else 503), body
