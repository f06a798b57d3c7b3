"""Writes for accounts: API keys and the audit trail."""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import hmac
import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import ApiKey, AuditEvent, api_key_generate, api_key_hash

logger = logging.getLogger(__name__)

# last_used_at is refreshed at most this often, so reads do not write on every request.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def _text(value: str) -> str:
    """`value` made storable: PostgreSQL takes no NUL character (in text or JSON) and no lone
    surrogate, and an audit write must never fail on what a client or a platform sent."""
    value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, dict):
        return {_text(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _text(str(value))


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    changes: dict[str, tuple[Any, Any]] | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
) -> AuditEvent:
    """Append one audit event. `changes` maps a field to (before, after)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
    user = actor.user if actor.user is not None and actor.user.pk else None
    return AuditEvent.objects.create(
        actor_user=user,
        actor_label=_text(actor.label)[:200],
        api_key_name=_text(actor.api_key.name) if actor.api_key is not None else "",
        action=action,
        object_type=object_type,
        object_id=_text(object_id)[:64],
        object_repr=_text(object_repr)[:255],
        changes={_text(k): [_jsonable(b), _jsonable(a)] for k, (b, a) in (changes or {}).items()},
        origin=actor.origin,
        ip=actor.ip,
    )


@transaction.atomic
def api_key_create(*, user: Any, name: str, actor: Actor) -> tuple[ApiKey, str]:
    """Create a key for `user`. Returns (key, raw key); the raw key is never stored or shown again."""
    raw = api_key_generate()
    key = ApiKey.objects.create(
        user=user, name=_text(name).strip()[:100] or "API key", prefix=raw[:8], key_hash=api_key_hash(raw)
    )
    audit_record(actor=actor, action="api_key.create", obj=key, changes={"name": (None, key.name)})
    return key, raw


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke a key (idempotent). Returns the key."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor, action="api_key.revoke", obj=api_key, changes={"revoked_at": (None, api_key.revoked_at)}
        )
    return api_key


# --- API key look-up, cached per process -------------------------------------------------------
#
# With a Redis cache (REDIS_URL) each process keeps the keys it has seen, keyed by their SHA-256,
# so an API request does not query the database to authenticate. An entry is trusted only while
# the shared *key generation* token in Redis is the one it was read under: every change to any API
# key or user (revocation, deactivation, staff flag, deletion; see accounts/signals.py) replaces
# the token after its transaction commits, so every process re-reads from the database on its
# very next request. The token is random (not a counter), so a flushed or evicted token can never
# come back to an old value; an entry also expires after API_KEY_CACHE_SECONDS whatever happens,
# which bounds the damage of a change made behind the ORM's back (a raw SQL UPDATE). Without Redis
# (the SQLite default) nothing is cached and every request reads the key from the database.

API_KEY_GENERATION_KEY = "api-key-generation"
API_KEY_CACHE_SECONDS = 60.0
_API_KEY_CACHE_MAX = 1000
# digest -> (generation token, monotonic expiry, key with its user loaded)
_api_key_cache: dict[str, tuple[bytes, float, ApiKey]] = {}


def _redis() -> tuple[Any, str, Any] | None:
    """(client, generation key, cache) when the default cache is Redis, else None."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    from accounts.ratelimit import redis_client

    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return None
    return redis_client(cache), cache.make_key(API_KEY_GENERATION_KEY), cache


def api_key_generation() -> bytes | None:
    """The current key generation token, or None when there is no usable Redis (then no caching)."""
    redis = _redis()
    if redis is None:
        return None
    client, key, _ = redis
    try:
        token = client.get(key)
        if token is None:
            client.set(key, uuid.uuid4().hex, nx=True)
            token = client.get(key)
    except Exception:  # noqa: BLE001  (Redis unreachable: fall back to the database, uncached)
        return None
    return token


def api_key_generation_bump() -> None:
    """Invalidate every process's cached API keys (call after the change has committed)."""
    redis = _redis()
    _api_key_cache.clear()
    if redis is None:
        return
    client, key, _ = redis
    try:
        client.set(key, uuid.uuid4().hex)
    except Exception:  # entries still expire after API_KEY_CACHE_SECONDS
        logger.exception("Could not bump the API key generation in Redis")


def api_key_cache_invalidate() -> None:
    """Schedule a generation bump for when the current transaction commits (now if none)."""
    transaction.on_commit(api_key_generation_bump)


def _copy_key(key: ApiKey) -> ApiKey:
    # Each request gets its own instances: nothing one request caches on them reaches another.
    fresh = copy.copy(key)
    fresh.user = copy.copy(key.user)
    return fresh


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """Return the active key matching `raw_key` (with its user loaded), or None."""
    if not raw_key or len(raw_key) > 200:
        return None
    digest = api_key_hash(raw_key)
    generation = api_key_generation()
    now_mono = time.monotonic()
    if generation is not None:
        cached = _api_key_cache.get(digest)
        if cached is not None and cached[0] == generation and cached[1] > now_mono:
            key = cached[2]
            if hmac.compare_digest(key.key_hash, digest):
                _touch(key)
                return _copy_key(key)
    # The generation was read before the database: a change committed after this read bumps it,
    # so an entry stored below can never outlive a revocation it did not see.
    key = ApiKey.objects.select_related("user").filter(key_hash=digest, revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest) or not key.user.is_active:
        _api_key_cache.pop(digest, None)
        return None
    _touch(key)
    if generation is not None:
        if len(_api_key_cache) >= _API_KEY_CACHE_MAX:
            _api_key_cache.clear()
        _api_key_cache[digest] = (generation, now_mono + API_KEY_CACHE_SECONDS, key)
        return _copy_key(key)
    return key


def api_key_authenticate_and_count(raw_key: str) -> tuple[ApiKey | None, int | None]:
    """api_key_authenticate() plus the key's rate-limit hit: (key or None, seconds to wait or None).

    For a key this process has cached, the generation check and the rate-limit count share one
    Redis round trip; anything else (not cached, expired, generation changed, no Redis) takes the
    full path of api_key_authenticate() and then counts."""
    from accounts.ratelimit import rate_limit_check, rate_limit_check_and_get

    if raw_key and len(raw_key) <= 200:
        digest = api_key_hash(raw_key)
        cached = _api_key_cache.get(digest)
        redis = _redis()
        if cached is not None and redis is not None and cached[1] > time.monotonic():
            key = cached[2]
            try:
                retry_after, generation = rate_limit_check_and_get(redis[2], f"key:{key.pk}", redis[1])
            except Exception:  # noqa: BLE001  (Redis unreachable: the full path decides)
                generation = None
            if generation is not None and generation == cached[0] and hmac.compare_digest(key.key_hash, digest):
                _touch(key)
                return _copy_key(key), retry_after
    key = api_key_authenticate(raw_key)
    if key is None:
        return None, None
    return key, rate_limit_check(f"key:{key.pk}")


def _touch(key: ApiKey) -> None:
    """Refresh last_used_at at most once per API_KEY_TOUCH_INTERVAL (per process when cached)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
