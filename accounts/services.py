"""Writes for accounts: API keys and the audit trail."""

from __future__ import annotations

import datetime as dt
import decimal
import hmac
import uuid
from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import ApiKey, AuditEvent, api_key_generate, api_key_hash

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


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """Return the active key matching `raw_key` (with its user loaded), or None."""
    if not raw_key or len(raw_key) > 200:
        return None
    digest = api_key_hash(raw_key)
    key = ApiKey.objects.select_related("user").filter(key_hash=digest, revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest) or not key.user.is_active:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
