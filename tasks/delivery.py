"""Delivery: send what is pending on each channel, outside the recipient's quiet hours.

Safe to run twice or on two clusters at once: a notification is claimed (a short lease on
`next_attempt_at`, taken with a conditional UPDATE) before anything is sent for it, and each
channel's state records what went out. Failed emails, webhook calls and pushes are retried with
backoff; a webhook that keeps failing is turned off and its owner told; a push subscription the
push service calls gone (404, 410) is removed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import mail
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import UserPreference
from accounts.preferences import preferences_for_users
from tasks import channels, push
from tasks.channels import ChannelError
from tasks.models import Notification, PushSubscription, Task
from tasks.notifications import NotificationDraft, notification_build

logger = logging.getLogger(__name__)

State = Notification.State
Kind = Notification.Kind

# While one worker delivers a notification, no other picks it up (if the worker dies, it is
# retried after this: delivery is at-least-once only across a crash mid-send).
DELIVERY_LEASE = timedelta(minutes=5)
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the n-th failed attempt: 1, 2, 4, 8 … minutes, at most an hour."""
    return min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_MAX)


def _utc_iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


@dataclass
class DeliveryReport:
    delivered: int = 0
    emails: int = 0
    webhooks: int = 0
    pushes: int = 0
    failures: int = 0
    held: int = 0
    dropped: int = 0
    errors: list[str] = field(default_factory=list)


def _still_relevant(n: Notification) -> bool:
    """A reminder whose task was done, deleted, re-dated or touched since is not worth sending."""
    if n.kind not in (Kind.DUE_SOON, Kind.OVERDUE, Kind.STALE):
        return True
    task = n.task
    if task is None or task.status == Task.Status.DONE:
        return False
    if n.kind == Kind.STALE:
        return n.payload.get("updated_at") in (None, _utc_iso(task.updated_at))
    return task.due_at is not None and n.payload.get("due_at") in (None, _utc_iso(task.due_at))


def _claim(n_id: int, now: dt.datetime) -> bool:
    """Take a delivery lease on one notification; False when another worker holds it or it is done."""
    return bool(
        Notification.objects.filter(pk=n_id, delivered_at__isnull=True)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(deliver_after__isnull=True) | Q(deliver_after__lte=now))
        .update(next_attempt_at=now + DELIVERY_LEASE)
    )


def webhook_failure_record(*, pref: UserPreference, error: str, now: dt.datetime) -> bool:
    """Count a consecutive webhook failure; disable the webhook at the limit and tell the user.

    Returns True when this failure disabled the webhook.
    """
    limit = int(_setting("WEBHOOK_DISABLE_AFTER", 5))
    UserPreference.objects.filter(pk=pref.pk).update(
        webhook_failures=F("webhook_failures") + 1, webhook_last_error=error[:1000]
    )
    pref.refresh_from_db(fields=["webhook_failures", "webhook_disabled_at", "webhook_last_error"])
    if pref.webhook_failures < limit or pref.webhook_disabled_at is not None:
        return False
    if not UserPreference.objects.filter(pk=pref.pk, webhook_disabled_at__isnull=True).update(webhook_disabled_at=now):
        return False
    pref.webhook_disabled_at = now
    draft = NotificationDraft(
        recipient_id=pref.user_id,
        kind=Kind.WEBHOOK_DISABLED,
        message=(
            f"Your webhook {pref.webhook_url} was turned off after {pref.webhook_failures} failed deliveries in a row "
            f"(last error: {error[:200]}). Fix it and save your notification settings to turn it back on."
        ),
        dedupe_key=f"webhook_disabled:{pref.user_id}:{_utc_iso(now)}",
        url="/settings/notifications/",
        object_type="accounts.userpreference",
        object_id=str(pref.pk),
    )
    notification = notification_build(draft=draft, pref=pref, now=now)
    Notification.objects.bulk_create([notification], ignore_conflicts=True)
    return True


def _webhook_success_record(pref: UserPreference) -> None:
    if pref.webhook_failures:
        UserPreference.objects.filter(pk=pref.pk).update(webhook_failures=0, webhook_last_error="")
        pref.webhook_failures = 0


def _deliver_one(
    n: Notification,
    pref: UserPreference,
    *,
    now: dt.datetime,
    connection: Any,
    client: Any,
    push_session: Any,
    down_urls: set[str],
    report: DeliveryReport,
) -> None:
    errors: list[str] = []
    max_attempts = int(_setting("NOTIFICATION_MAX_ATTEMPTS", 5))
    if n.in_app_state == State.PENDING:
        n.in_app_state = State.SENT
    if n.email_state == State.PENDING:
        if not pref.notify_email or not n.recipient.email:
            n.email_state = State.SKIPPED
        else:
            try:
                channels.email_send(notification=n, pref=pref, connection=connection)
                n.email_state = State.SENT
                report.emails += 1
            except ChannelError as exc:
                n.email_attempts += 1
                errors.append(str(exc))
                n.email_state = State.FAILED if n.email_attempts >= max_attempts else State.PENDING
    if n.webhook_state == State.PENDING:
        if not pref.webhook_active:
            n.webhook_state = State.SKIPPED
        elif pref.webhook_url in down_urls:
            pass  # already failed in this run: try again next time without counting an attempt
        else:
            try:
                channels.webhook_post(notification=n, pref=pref, client=client)
                n.webhook_state = State.SENT
                report.webhooks += 1
                _webhook_success_record(pref)
            except ChannelError as exc:
                n.webhook_attempts += 1
                errors.append(str(exc))
                down_urls.add(pref.webhook_url)
                disabled = webhook_failure_record(pref=pref, error=str(exc), now=now)
                if disabled or n.webhook_attempts >= max_attempts:
                    n.webhook_state = State.FAILED
    if n.push_state == State.PENDING:
        _push_one(n, pref, push_session=push_session, errors=errors, report=report, max_attempts=max_attempts)
    if errors:
        report.failures += len(errors)
        report.errors.extend(errors)
        n.last_error = " | ".join(errors)[:2000]
    if State.PENDING in n.channel_states().values():
        n.next_attempt_at = now + retry_delay(max(n.email_attempts, n.webhook_attempts, n.push_attempts, 1))
    else:
        n.next_attempt_at = None
        n.delivered_at = now
        report.delivered += 1


def _push_one(
    n: Notification,
    pref: UserPreference,
    *,
    push_session: Any,
    errors: list[str],
    report: DeliveryReport,
    max_attempts: int,
) -> None:
    """Push to each of the recipient's devices: sent when one accepted it, skipped when they
    have none left (a 404/410 removes a device), else retried with the other channels' backoff."""
    subscriptions = list(PushSubscription.objects.filter(user_id=n.recipient_id).order_by("id"))
    if not pref.notify_push or not push.push_configured() or not subscriptions:
        n.push_state = State.SKIPPED
        return
    result = push.push_send(notification=n, subscriptions=subscriptions, session=push_session)
    if result.sent:
        n.push_state = State.SENT
        report.pushes += 1
    elif not result.errors:
        n.push_state = State.SKIPPED  # every device was gone
    else:
        n.push_attempts += 1
        errors.extend(result.errors)
        n.push_state = State.FAILED if n.push_attempts >= max_attempts else State.PENDING


_SAVED_FIELDS = [
    "in_app_state",
    "email_state",
    "email_attempts",
    "webhook_state",
    "webhook_attempts",
    "push_state",
    "push_attempts",
    "last_error",
    "next_attempt_at",
    "delivered_at",
    "deliver_after",
]


def _deliver_claimed(
    n: Notification, pref: UserPreference, *, now: dt.datetime, report: DeliveryReport, **io: Any
) -> None:
    quiet_until = pref.quiet_until(now)
    if quiet_until is not None:
        # Preferences may have changed since it was created: hold it until quiet hours end.
        n.deliver_after, n.next_attempt_at = quiet_until, None
        report.held += 1
    elif not _still_relevant(n):
        for name in ("in_app_state", "email_state", "webhook_state", "push_state"):
            if getattr(n, name) == State.PENDING:
                setattr(n, name, State.SKIPPED)
        n.delivered_at, n.next_attempt_at = now, None
        report.dropped += 1
    else:
        _deliver_one(n, pref, now=now, report=report, **io)
    n.save(update_fields=_SAVED_FIELDS)


def notifications_deliver(*, now: dt.datetime | None = None, limit: int = 200) -> DeliveryReport:
    """Send what is pending on each channel, holding back whatever falls in quiet hours.

    A failed email or webhook is retried with exponential backoff up to NOTIFICATION_MAX_ATTEMPTS;
    WEBHOOK_DISABLE_AFTER consecutive webhook failures turn the user's webhook off. Reminders
    whose task was done, deleted or re-dated meanwhile are dropped unsent.
    """
    now = now or timezone.now()
    report = DeliveryReport()
    due = Notification.objects.due_for_delivery(now=now).order_by("created_at", "id")
    ids = list(due.values_list("id", flat=True)[:limit])
    if not ids:
        return report
    prefs: dict[int, UserPreference] = {}
    down_urls: set[str] = set()
    # One SMTP connection and one HTTP client per run; the SMTP connection opens on first use, so
    # a mail server that is down fails each email (to be retried), not the whole run.
    connection = mail.get_connection()
    try:
        with channels.webhook_client() as client, push.push_session() as push_session:
            for n_id in ids:
                if not _claim(n_id, now):
                    continue  # another worker has it, or it was finished meanwhile
                try:
                    n = Notification.objects.select_related("recipient", "task").get(pk=n_id)
                    if n.recipient_id not in prefs:
                        prefs.update(preferences_for_users([n.recipient_id]))
                    _deliver_claimed(
                        n,
                        prefs[n.recipient_id],
                        now=now,
                        report=report,
                        connection=connection,
                        client=client,
                        push_session=push_session,
                        down_urls=down_urls,
                    )
                except Exception:
                    # One broken notification must not stop the others; its lease expires and
                    # it is tried again later.
                    logger.exception("Delivering notification %s failed", n_id)
                    report.failures += 1
    finally:
        try:
            connection.close()
        except Exception:  # closing a broken SMTP connection must not fail the run
            logger.debug("Closing the email connection failed", exc_info=True)
    if report.errors:
        logger.warning("Notification delivery: %d failure(s), first: %s", report.failures, report.errors[0])
    return report
