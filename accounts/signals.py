"""Failed logins are audited whatever the entry point (allauth pages, admin, API)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from accounts.actor import ORIGIN_ADMIN, ORIGIN_WEB, Actor, client_ip
from accounts.services import audit_record


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
