"""Tell staff when a connection needs a person (integrations sends the signal; it knows no
notifications): a refresh token refused (reconnect) or a long-lived token about to expire."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.dispatch import receiver

from integrations.signals import connection_alert
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
