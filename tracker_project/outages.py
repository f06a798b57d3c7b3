"""Errors that mean a backing service (PostgreSQL, Redis) is unreachable right now, so the
request may succeed if retried: they answer 503 with Retry-After, never the generic 500."""

from __future__ import annotations

from django.db import OperationalError

from accounts.ratelimit import REDIS_UNAVAILABLE

SERVICE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, *REDIS_UNAVAILABLE)
RETRY_AFTER_SECONDS = "5"
