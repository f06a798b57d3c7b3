"""Fixed-window request counting shared by every worker process.

With Redis (REDIS_URL) the counter is an atomic INCR; without it, an atomic
INSERT … ON CONFLICT … RETURNING on a small table, so the limit holds across gunicorn workers
and machines in both modes.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.utils import timezone

from accounts.models import RateLimitCounter


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window: int

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """'600/60' → 600 requests per 60 seconds; '0/…' or '' disables the limit."""
        count, _, window = (text or "0/60").partition("/")
        return cls(limit=int(count), window=int(window or 60))


def _count_in_db(bucket: str, expires_in: int) -> int:
    table = connection.ops.quote_name(RateLimitCounter._meta.db_table)
    expires_at = timezone.now() + timedelta(seconds=expires_in)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (bucket, count, expires_at) VALUES (%s, 1, %s) "  # noqa: S608
            f"ON CONFLICT (bucket) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [bucket, expires_at],
        )
        (count,) = cursor.fetchone()
    if random.random() < 0.01:
        RateLimitCounter.objects.filter(expires_at__lt=timezone.now()).delete()
    return int(count)


def _count_in_redis(bucket: str, expires_in: int) -> int:
    cache.add(bucket, 0, timeout=expires_in)
    try:
        return int(cache.incr(bucket))
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=expires_in)
        return 1


def rate_limit_check(identity: str, *, rule: str | None = None) -> int | None:
    """Count one request for `identity`. Returns None if allowed, else seconds until it may retry."""
    limit = RateLimit.parse(rule if rule is not None else settings.API_RATE_LIMIT)
    if limit.limit <= 0:
        return None
    now = time.time()
    window_start = int(now // limit.window) * limit.window
    bucket = f"rl:{identity}:{window_start}"[:120]
    expires_in = limit.window + 1
    if isinstance(cache, RedisCache) or type(getattr(cache, "_wrapped", cache)).__name__ == "RedisCache":
        count = _count_in_redis(bucket, expires_in)
    else:
        count = _count_in_db(bucket, expires_in)
    if count > limit.limit:
        return max(1, math.ceil(window_start + limit.window - now))
    return None
