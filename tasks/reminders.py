"""The reminder jobs: due soon, overdue, stale and the daily digest (delivery: tasks.delivery).

Each takes `now` so a test (or a replay) can drive it along a simulated clock, and each is safe to
run twice or on two clusters at once: notifications are created through unique dedupe keys
(INSERT … ON CONFLICT DO NOTHING), so a second run finds nothing new to create.
"""

from __future__ import annotations

import datetime as dt
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from accounts.models import DEFAULT_REMINDER_LEAD, DEFAULT_STALE_AFTER, UserPreference
from accounts.preferences import preferences_for_users
from tasks import channels
from tasks.delivery import DeliveryReport, notifications_deliver
from tasks.models import Notification, Task
from tasks.notifications import NotificationDraft, notification_build, notifications_create

__all__ = ["DeliveryReport", "digests_send", "due_soon_run", "notifications_deliver", "overdue_run", "stale_run"]

logger = logging.getLogger(__name__)

State = Notification.State
Kind = Notification.Kind

# A task overdue for longer than this when reminders first see it gets no overdue message (a new
# install would otherwise flood everyone with years-old tasks); the stale reminder still covers it.
OVERDUE_LOOKBACK = timedelta(days=30)


def recipient_of(task: Task) -> Any | None:
    """Who hears about a task: its assignee, else its sponsor's owner, else its creator (the
    first of them with an active account). A pulled task has no creator and, when the platform
    names nobody who is a user here, no assignee: its sponsor's owner is the one responsible."""
    owner = task.sponsor.owner if task.sponsor_id is not None and task.sponsor is not None else None
    for user in (task.assignee, owner, task.created_by):
        if user is not None and user.is_active:
            return user
    return None


def _open_tasks() -> Any:
    # A task gone upstream (removed_at) is kept for the record, but nobody can act on it.
    return (
        Task.objects.exclude(status=Task.Status.DONE)
        .filter(removed_at__isnull=True)
        .filter(Q(assignee__isnull=False) | Q(sponsor__owner__isnull=False) | Q(created_by__isnull=False))
        .select_related("assignee", "created_by", "sponsor__owner")
    )


def _utc_iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _local(value: dt.datetime, pref: UserPreference) -> str:
    return f"{value.astimezone(pref.zone):%a %d %b %H:%M} ({pref.time_zone})"


def _span(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60)
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    days = round(hours / 24)
    return f"{days} days"


def _with_recipients(tasks: Any) -> list[tuple[Task, Any, UserPreference]]:
    tasks = list(tasks)
    pairs = [(t, recipient_of(t)) for t in tasks]
    pairs = [(t, u) for t, u in pairs if u is not None]
    prefs = preferences_for_users(u.pk for _, u in pairs)
    return [(t, u, prefs[u.pk]) for t, u in pairs if u.pk in prefs]


def _task_draft(*, task: Task, user: Any, kind: str, key: str, message: str, **payload: Any) -> NotificationDraft:
    return NotificationDraft(
        recipient_id=user.pk,
        kind=kind,
        message=message,
        dedupe_key=key,
        task_id=task.pk,
        object_type="tasks.task",
        object_id=str(task.pk),
        url=channels.task_path(task.pk),
        payload={"task_title": task.title, **payload},
    )


def due_soon_run(*, now: dt.datetime | None = None) -> int:
    """Remind each recipient once per task per due time, within their lead time. Returns how many."""
    now = now or timezone.now()
    longest = UserPreference.objects.aggregate(m=Max("reminder_lead"))["m"] or DEFAULT_REMINDER_LEAD
    longest = max(longest, DEFAULT_REMINDER_LEAD)
    candidates = _open_tasks().filter(due_at__gt=now, due_at__lte=now + longest)
    drafts = []
    for task, user, pref in _with_recipients(candidates):
        if task.due_at - now > pref.reminder_lead:
            continue
        due = _utc_iso(task.due_at)
        message = f"“{task.title}” is due in {_span(task.due_at - now)}, on {_local(task.due_at, pref)}."
        drafts.append(
            _task_draft(
                task=task, user=user, kind=Kind.DUE_SOON, key=f"due_soon:{task.pk}:{due}", message=message, due_at=due
            )
        )
    return notifications_create(drafts=drafts, now=now)


def overdue_run(*, now: dt.datetime | None = None) -> int:
    """Tell each recipient once per task per due time that it is overdue. Returns how many."""
    now = now or timezone.now()
    candidates = _open_tasks().filter(due_at__lte=now, due_at__gt=now - OVERDUE_LOOKBACK)
    drafts = []
    for task, user, pref in _with_recipients(candidates):
        due = _utc_iso(task.due_at)
        message = f"“{task.title}” is overdue: it was due on {_local(task.due_at, pref)}."
        drafts.append(
            _task_draft(
                task=task, user=user, kind=Kind.OVERDUE, key=f"overdue:{task.pk}:{due}", message=message, due_at=due
            )
        )
    return notifications_create(drafts=drafts, now=now)


def stale_run(*, now: dt.datetime | None = None) -> int:
    """Flag open tasks not updated for the recipient's threshold, once per staleness period."""
    now = now or timezone.now()
    shortest = UserPreference.objects.aggregate(m=Min("stale_after"))["m"] or DEFAULT_STALE_AFTER
    shortest = min(shortest, DEFAULT_STALE_AFTER)
    candidates = _open_tasks().filter(updated_at__lte=now - shortest)
    drafts = []
    for task, user, pref in _with_recipients(candidates):
        idle = now - task.updated_at
        period = idle // pref.stale_after
        if period < 1:
            continue
        updated = _utc_iso(task.updated_at)
        message = f"“{task.title}” has not been updated for {_span(idle)}."
        drafts.append(
            _task_draft(
                task=task,
                user=user,
                kind=Kind.STALE,
                key=f"stale:{task.pk}:{updated}:{period}",
                message=message,
                updated_at=updated,
                period=period,
            )
        )
    return notifications_create(drafts=drafts, now=now)


# --- digest ----------------------------------------------------------------------------------


def _digest_item(n: Notification) -> dict[str, Any]:
    return {
        "id": n.pk,
        "kind": n.kind,
        "message": n.message,
        "created_at": n.created_at.isoformat(),
        "url": channels.notification_link(n),
    }


def digests_send(*, now: dt.datetime | None = None) -> int:
    """Bundle each digest user's held-back messages into one message a day. Returns how many digests.

    A user's digest goes out at the first run after DIGEST_HOUR (default 8) in their time zone;
    the dedupe key (user, local date) makes it once a day however often this runs.
    """
    now = now or timezone.now()
    hour = int(getattr(settings, "DIGEST_HOUR", 8))
    created = 0
    # Users who just turned the digest off still get what was already held for it.
    waiting = Notification.objects.filter(
        Q(email_state=State.DIGEST) | Q(webhook_state=State.DIGEST) | Q(push_state=State.DIGEST)
    )
    prefs = (
        UserPreference.objects.filter(Q(digest=True) | Q(user_id__in=waiting.values("recipient_id")))
        .filter(user__is_active=True)
        .select_related("user")
    )
    for pref in prefs:
        local = now.astimezone(pref.zone)
        if local.hour < hour:
            continue
        key = f"digest:{pref.user_id}:{local.date().isoformat()}"
        if Notification.objects.filter(dedupe_key=key).exists():
            continue
        if _digest_create(pref=pref, key=key, now=now):
            created += 1
    return created


@transaction.atomic
def _digest_create(*, pref: UserPreference, key: str, now: dt.datetime) -> bool:
    waiting = Q(email_state=State.DIGEST) | Q(webhook_state=State.DIGEST) | Q(push_state=State.DIGEST)
    items = list(
        Notification.objects.select_for_update(of=("self",))
        .filter(waiting, recipient_id=pref.user_id, created_at__lte=now)
        .select_related("task")
        .order_by("created_at", "id")[:200]
    )
    if not items:
        return False
    by_email = any(n.email_state == State.DIGEST for n in items)
    by_webhook = any(n.webhook_state == State.DIGEST for n in items)
    by_push = any(n.push_state == State.DIGEST for n in items)
    digest = notification_build(
        draft=NotificationDraft(
            recipient_id=pref.user_id,
            kind=Kind.DIGEST,
            message=f"Your daily digest: {len(items)} update{'s' if len(items) != 1 else ''}.",
            dedupe_key=key,
            payload={"items": [_digest_item(n) for n in items]},
        ),
        pref=pref,
        now=now,
    )
    if not by_email and digest.email_state == State.PENDING:
        digest.email_state = State.SKIPPED
    if not by_webhook and digest.webhook_state == State.PENDING:
        digest.webhook_state = State.SKIPPED
    if not by_push and digest.push_state == State.PENDING:
        digest.push_state = State.SKIPPED
    if State.PENDING not in digest.channel_states().values():
        digest.delivered_at = now
    try:
        with transaction.atomic():  # savepoint: a concurrent run that got there first wins
            digest.save(force_insert=True)
    except IntegrityError:
        return False
    ids = [n.pk for n in items]
    Notification.objects.filter(pk__in=ids, email_state=State.DIGEST).update(email_state=State.SENT)
    Notification.objects.filter(pk__in=ids, webhook_state=State.DIGEST).update(webhook_state=State.SENT)
    Notification.objects.filter(pk__in=ids, push_state=State.DIGEST).update(push_state=State.SENT)
    return True
