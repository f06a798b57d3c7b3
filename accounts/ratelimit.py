"""Fixed-window request counting shared by every worker process and machine.

One round trip per request in both modes:
- with a Redis cache (REDIS_URL): `SET key 0 EX window NX` + `INCR key` in one pipelined
  MULTI/EXEC;
- without it: one atomic `INSERT … ON CONFLICT DO UPDATE … RETURNING` on a table with one row
  per identity (the row starts a new window in place, so the table never grows beyond the
  number of keys and users).

When Redis is unreachable the request is let through uncounted (and a warning logged): the
limit guards capacity, and an API that stops answering whenever its cache restarts would be a
worse failure than a few seconds without limits. Keys are random and long, so no guessing is
made easier. Sign-in limits (allauth, in the same cache) fail closed instead: 503.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection

from accounts.models import RateLimitCounter

logger = logging.getLogger(__name__)

# Redis is unreachable right now: a refused or dropped connection (also BusyLoadingError, a
# restarted Redis still loading its data) or no reply in time. Other RedisErrors (a wrong command
# or type) are bugs and are not caught as outages.
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window: int

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """'600/60' → 600 requests per 60 seconds; '0/…' or '' disables the limit."""
        count, _, window = (text or "0/60").partition("/")
        return cls(limit=int(count), window=max(1, int(window or 60)))


def _count_in_db(bucket: str, window_end: dt.datetime) -> int:
    """Count one hit in the window ending at `window_end`; an older window restarts at 1."""
    table = connection.ops.quote_name(RateLimitCounter._meta.db_table)
    expires_at = connection.ops.adapt_datetimefield_value(window_end)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (bucket, count, expires_at) VALUES (%s, 1, %s) "  # noqa: S608  (our table)
            f"ON CONFLICT (bucket) DO UPDATE SET "
            f"count = CASE WHEN {table}.expires_at < excluded.expires_at THEN 1 ELSE {table}.count + 1 END, "
            f"expires_at = CASE WHEN {table}.expires_at < excluded.expires_at "
            f"THEN excluded.expires_at ELSE {table}.expires_at END "
            f"RETURNING count",
            [bucket, expires_at],
        )
        (count,) = cursor.fetchone()
    return int(count)


def redis_client(cache: RedisCache) -> Any:
    """One `redis.Redis` client per cache backend (so per process and thread), on the cache's own
    connection pool. Django's RedisCache builds a new client, with its ~170 response callbacks,
    on every call; that cost more than the round trip itself."""
    backend = cache._cache
    client = backend.__dict__.get("_tracker_client")
    if client is None:
        client = backend.get_client(write=True)
        backend.__dict__["_tracker_client"] = client
    return client


def _count_in_redis(
    cache: RedisCache, bucket: str, window_start: int, window: int, also_get: str | None = None
) -> tuple[int, Any]:
    key = cache.make_and_validate_key(f"{bucket}:{window_start}")
    client = redis_client(cache)
    with client.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=window + 1, nx=True)
        pipe.incr(key)
        if also_get is not None:
            pipe.get(also_get)
        results = pipe.execute()
    return int(results[1]), results[2] if also_get is not None else None


def _retry_after(count: int, limit: RateLimit, window_start: int, now: float) -> int | None:
    if count > limit.limit:
        return max(1, math.ceil(window_start + limit.window - now))
    return None


def rate_limit_check(identity: str, *, rule: str | None = None) -> int | None:
    """Count one request for `identity`. Returns None if allowed, else seconds until it may retry."""
    limit = RateLimit.parse(rule if rule is not None else settings.API_RATE_LIMIT)
    if limit.limit <= 0:
        return None
    now = time.time()
    window_start = int(now // limit.window) * limit.window
    bucket = f"rl:{identity}"[:100]
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        try:
            count, _ = _count_in_redis(cache, bucket, window_start, limit.window)
        except REDIS_UNAVAILABLE as exc:
            logger.warning("Rate limit not counted for %s: Redis is unavailable (%s)", identity, exc)
            return None
    else:
        window_end = dt.datetime.fromtimestamp(window_start + limit.window, tz=dt.UTC)
        count = _count_in_db(bucket, window_end)
    return _retry_after(count, limit, window_start, now)


def rate_limit_check_and_get(cache: RedisCache, identity: str, redis_key: str) -> tuple[int | None, Any]:
    """rate_limit_check() on a Redis cache that also reads `redis_key` (a full Redis key) in the
    same round trip. Returns (seconds to wait or None, the value read)."""
    limit = RateLimit.parse(settings.API_RATE_LIMIT)
    if limit.limit <= 0:
        return None, redis_client(cache).get(redis_key)
    now = time.time()
    window_start = int(now // limit.window) * limit.window
    count, value = _count_in_redis(cache, f"rl:{identity}"[:100], window_start, limit.window, also_get=redis_key)
    return _retry_after(count, limit, window_start, now), value
