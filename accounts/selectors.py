"""Reads for accounts: API keys and the audit trail."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import ApiKey, AuditEvent


def api_key_list(*, user: Any) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at")


def audit_event_list(
    *,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    origin: str | None = None,
    actor: str | None = None,
) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.select_related("actor_user")
    if action:
        qs = qs.filter(action=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if origin:
        qs = qs.filter(origin=origin)
    if actor:
        qs = qs.filter(actor_label__icontains=actor)
    return qs.order_by("-created_at", "-id")
