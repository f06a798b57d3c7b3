"""Notifications: create them once (dedupe keys), read them, mark them read.

Every producer — the reminder jobs here, sync failures, campaign alerts, mentions elsewhere —
goes through `notifications_create` (or `notification_send` for one), which decides per channel
what is to be delivered, given the recipient's preferences and quiet hours. Delivery itself is
`tasks.reminders.notifications_deliver`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import UserPreference
from accounts.preferences import preferences_for_users
from tasks.models import Notification, Task
from tasks.push import push_configured

State = Notification.State
Kind = Notification.Kind

# Kinds a digest user receives once a day in the digest instead of one by one (email, webhook,
# push).
DIGESTIBLE_KINDS = frozenset(
    {Kind.DUE_SOON, Kind.OVERDUE, Kind.STALE, Kind.SYNC_FAILED, Kind.CAMPAIGN_ALERT, Kind.MENTION}
)
_KEY_CHUNK = 500


@dataclass(frozen=True)
class NotificationDraft:
    """A notification to create unless one with the same `dedupe_key` already exists."""

    recipient_id: int
    kind: str
    message: str
    dedupe_key: str
    task_id: uuid.UUID | None = None
    object_type: str = ""
    object_id: str = ""
    url: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


def channel_states(*, pref: UserPreference, kind: str) -> dict[str, str]:
    """Initial state of each channel for a new notification of `kind` to the owner of `pref`.

    Push is pending whenever the person wants it and push is configured; whether they have a
    subscribed device is found out at delivery (no device: skipped).
    """
    push_on = pref.notify_push and push_configured()
    if kind == Kind.DIGEST:
        return {
            "in_app_state": State.SKIPPED,
            "email_state": State.PENDING if pref.notify_email and pref.user.email else State.SKIPPED,
            "webhook_state": State.PENDING if pref.webhook_active else State.SKIPPED,
            "push_state": State.PENDING if push_on else State.SKIPPED,
        }
    later = State.DIGEST if pref.digest and kind in DIGESTIBLE_KINDS else State.PENDING
    webhook_on = pref.webhook_active and kind != Kind.WEBHOOK_DISABLED
    return {
        "in_app_state": State.PENDING if pref.notify_in_app else State.SKIPPED,
        "email_state": later if pref.notify_email and pref.user.email else State.SKIPPED,
        "webhook_state": later if webhook_on else State.SKIPPED,
        "push_state": later if push_on else State.SKIPPED,
    }


def notification_build(*, draft: NotificationDraft, pref: UserPreference, now: dt.datetime) -> Notification:
    """An unsaved notification with its channel states and quiet-hours hold decided."""
    states = channel_states(pref=pref, kind=draft.kind)
    deliver_after = pref.quiet_until(now)
    # In-app needs no sending: outside quiet hours it shows up at once.
    if states["in_app_state"] == State.PENDING and deliver_after is None:
        states["in_app_state"] = State.SENT
    done = State.PENDING not in states.values()
    return Notification(
        recipient_id=draft.recipient_id,
        kind=draft.kind,
        task_id=draft.task_id,
        object_type=draft.object_type[:100],
        object_id=draft.object_id[:64],
        message=draft.message,
        url=draft.url[:500],
        payload=draft.payload,
        dedupe_key=draft.dedupe_key[:255],
        created_at=now,
        deliver_after=deliver_after,
        delivered_at=now if done else None,
        **states,
    )


def notifications_create(*, drafts: Sequence[NotificationDraft], now: dt.datetime | None = None) -> int:
    """Create the drafts whose dedupe key is new; returns how many were new.

    Inserts with ON CONFLICT DO NOTHING, so a concurrent run (another cluster) creating the same
    key at the same moment cannot raise or duplicate. Inactive or deleted recipients are skipped.
    """
    now = now or timezone.now()
    unique: dict[str, NotificationDraft] = {}
    for draft in drafts:
        unique.setdefault(draft.dedupe_key[:255], draft)
    keys = list(unique)
    existing: set[str] = set()
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start : start + _KEY_CHUNK]
        existing.update(Notification.objects.filter(dedupe_key__in=chunk).values_list("dedupe_key", flat=True))
    fresh = [d for k, d in unique.items() if k not in existing]
    if not fresh:
        return 0
    prefs = preferences_for_users(d.recipient_id for d in fresh)
    rows = [
        notification_build(draft=d, pref=prefs[d.recipient_id], now=now)
        for d in fresh
        if d.recipient_id in prefs and prefs[d.recipient_id].user.is_active
    ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows)


def notification_send(
    *,
    recipient: Any,
    kind: str,
    message: str,
    dedupe_key: str,
    task: Task | None = None,
    obj: models.Model | None = None,
    url: str = "",
    payload: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Notify one person (for other apps: sync failures, campaign alerts, mentions).

    Returns False when a notification with this `dedupe_key` already exists (nothing is sent twice).
    """
    if kind not in Kind.values:
        raise ValueError(f"Unknown notification kind {kind!r}")
    draft = NotificationDraft(
        recipient_id=recipient.pk,
        kind=kind,
        message=message,
        dedupe_key=dedupe_key,
        task_id=task.pk if task is not None else None,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        url=url,
        payload=payload or {},
    )
    return notifications_create(drafts=[draft], now=now) == 1


# --- reads -----------------------------------------------------------------------------------


def notification_list(*, user: Any, unread: bool | None = None) -> QuerySet[Notification]:
    """The user's in-app notifications, newest first (task preloaded)."""
    qs = Notification.objects.filter(recipient=user).visible().select_related("task")
    if unread is True:
        qs = qs.filter(read_at__isnull=True)
    elif unread is False:
        qs = qs.filter(read_at__isnull=False)
    return qs.order_by("-created_at", "-id")


def notification_unread_count(*, user: Any) -> int:
    if user is None or not user.is_authenticated:
        return 0
    return Notification.objects.filter(recipient=user).unread().count()


def notification_get(*, user: Any, notification_id: int) -> Notification:
    """One of the user's own visible notifications; raises Notification.DoesNotExist otherwise."""
    return Notification.objects.visible().select_related("task").get(recipient=user, pk=notification_id)


# --- writes ----------------------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, notification: Notification, now: dt.datetime | None = None) -> Notification:
    """Mark one notification read (idempotent: the first read time is kept)."""
    if notification.read_at is None:
        now = now or timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = Notification.objects.values_list("read_at", flat=True).get(pk=notification.pk)
    return notification


@transaction.atomic
def notifications_mark_all_read(*, user: Any, now: dt.datetime | None = None) -> int:
    """Mark every unread notification of `user` read; returns how many changed."""
    return Notification.objects.filter(recipient=user).unread().update(read_at=now or timezone.now())
