"""Tell staff when a connection needs a person (integrations sends the signal; it knows no
notifications): a refresh token refused (reconnect) or a long-lived token about to expire; and
when a scheduled sync's circuit breaker opens (its scheduled runs are paused and back off)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from integrations.connectors import UnknownConnector, any_connector_class
from integrations.signals import connection_alert, sync_breaker_opened
from tasks.models import Notification
from tasks.notifications import NotificationDraft, notifications_create


@receiver(connection_alert, dispatch_uid="tasks.connection_alert")
def connection_alert_notify(
    sender: Any, *, connection: Any, reason: str, message: str, dedupe_key: str, **kwargs: Any
) -> None:
    """One in-app/e-mail/webhook notification per active staff member (deduplicated by key)."""
    drafts = [
        NotificationDraft(
            recipient_id=user_id,
            kind=Notification.Kind.SYNC_FAILED,
            message=message[:500],
            dedupe_key=f"{dedupe_key}:{user_id}",
            object_type="integrations.connection",
            object_id=str(connection.pk),
            payload={"connection_id": connection.pk, "platform": connection.platform, "reason": reason},
        )
        for user_id in get_user_model().objects.filter(is_staff=True, is_active=True).values_list("pk", flat=True)
    ]
    notifications_create(drafts=drafts)


@receiver(sync_breaker_opened, dispatch_uid="tasks.sync_breaker_opened")
def sync_breaker_notify(
    sender: Any,
    *,
    connector: str,
    scope: str,
    failures: int,
    open_until: Any,
    error: str,
    dedupe_key: str,
    **kwargs: Any,
) -> None:
    """One notification per active staff member when a scope's breaker opens (once per opening)."""
    try:
        label = any_connector_class(connector).label
    except UnknownConnector:
        label = connector
    when = f" Next try at {timezone.localtime(open_until):%Y-%m-%d %H:%M %Z}." if open_until else ""
    message = (
        f"{label} sync of {scope or 'everything'} paused after {failures} failures in a row; scheduled runs back "
        f"off until it succeeds (a manual run still tries).{when} Last error: {error}"
    )
    drafts = [
        NotificationDraft(
            recipient_id=user_id,
            kind=Notification.Kind.SYNC_FAILED,
            message=message[:500],
            dedupe_key=f"{dedupe_key}:{user_id}",
            object_type="integrations.connectorstate",
            object_id=f"{connector}:{scope}"[:64],
            url=reverse("sync_center"),
            payload={"connector": connector, "scope": scope, "failures": failures, "reason": "breaker_open"},
        )
        for user_id in get_user_model().objects.filter(is_staff=True, is_active=True).values_list("pk", flat=True)
    ]
    notifications_create(drafts=drafts)
