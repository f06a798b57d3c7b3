"""Failed logins are audited whatever the entry point (allauth pages, admin, API); any change to
an API key or a user invalidates every process's cached API keys once it commits."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.actor import ORIGIN_ADMIN, ORIGIN_WEB, Actor, client_ip
from accounts.models import ApiKey
from accounts.services import api_key_cache_invalidate, audit_record


@receiver(user_login_failed)
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    attempted = str(credentials.get("username") or credentials.get("email") or "")[:150]
    path = getattr(request, "path", "") or ""
    origin = ORIGIN_ADMIN if path.startswith("/admin") else ORIGIN_WEB
    actor = Actor(origin=origin, system="anonymous", ip=client_ip(request) if request is not None else None)
    audit_record(
        actor=actor,
        action="login.failed",
        object_type="auth.user",
        object_repr=attempted,
        changes={"username": (None, attempted)},
    )


@receiver(post_save, sender=ApiKey, dispatch_uid="api_key_cache_on_key_save")
@receiver(post_delete, sender=ApiKey, dispatch_uid="api_key_cache_on_key_delete")
def invalidate_keys_on_key_change(sender: Any, instance: ApiKey, **kwargs: Any) -> None:
    api_key_cache_invalidate()


@receiver(post_save, sender=get_user_model(), dispatch_uid="api_key_cache_on_user_save")
@receiver(post_delete, sender=get_user_model(), dispatch_uid="api_key_cache_on_user_delete")
def invalidate_keys_on_user_change(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    # A login only stamps last_login; anything else (is_active, is_staff, username …) may change
    # what a cached key's user is allowed to do.
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    api_key_cache_invalidate()
