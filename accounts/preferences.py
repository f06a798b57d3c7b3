"""Notification preferences: read them (created lazily with defaults) and change them (audited)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import UserPreference
from accounts.services import audit_record

EDITABLE_FIELDS = (
    "time_zone",
    "quiet_start",
    "quiet_end",
    "reminder_lead",
    "stale_after",
    "notify_in_app",
    "notify_email",
    "notify_webhook",
    "notify_push",
    "webhook_url",
    "webhook_secret",
    "digest",
)
# Changing any of these gives a disabled webhook a fresh start.
WEBHOOK_FIELDS = ("notify_webhook", "webhook_url", "webhook_secret")

MIN_REMINDER_LEAD = timedelta(minutes=5)
MAX_REMINDER_LEAD = timedelta(days=30)
MIN_STALE_AFTER = timedelta(hours=1)
MAX_STALE_AFTER = timedelta(days=365)
MIN_WEBHOOK_SECRET = 16


def webhook_secret_generate() -> str:
    return secrets.token_urlsafe(32)


def preference_for(user: Any) -> UserPreference:
    """The user's preferences, created with the defaults on first use (safe under concurrency)."""
    try:
        pref = UserPreference.objects.get(user=user)
    except UserPreference.DoesNotExist:
        try:
            with transaction.atomic():
                pref = UserPreference.objects.create(user=user)
        except IntegrityError:
            pref = UserPreference.objects.get(user=user)
    return pref


def preference_get(user: Any) -> UserPreference:
    """The user's preferences for reading: the stored row, or the defaults unsaved (a GET never
    writes)."""
    pref = UserPreference.objects.filter(user=user).first()
    return pref if pref is not None else UserPreference(user=user)


def preferences_for_users(user_ids: Iterable[int]) -> dict[int, UserPreference]:
    """Preferences for many users in one query, `user` preloaded; defaults (unsaved) where none exist.

    Jobs read preferences for every recipient of a batch: they must not write a row per user.
    """
    ids = set(user_ids)
    users = get_user_model().objects.filter(pk__in=ids).select_related("preference")
    out: dict[int, UserPreference] = {}
    for user in users:
        try:
            pref = user.preference
        except UserPreference.DoesNotExist:
            pref = UserPreference(user=user)
        out[user.pk] = pref
    return out


def _check_webhook_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # e.g. "http://[::1" or a port out of range
        valid = False
    if not valid:
        raise ValidationError({"webhook_url": "Use an http:// or https:// URL."})


def _validate(pref: UserPreference) -> None:
    errors: dict[str, str] = {}
    if (pref.quiet_start is None) != (pref.quiet_end is None):
        errors["quiet_end"] = "Give both the start and the end of quiet hours, or neither."
    elif pref.quiet_start is not None and pref.quiet_start == pref.quiet_end:
        errors["quiet_end"] = "Quiet hours must end at a different time than they start."
    if not MIN_REMINDER_LEAD <= pref.reminder_lead <= MAX_REMINDER_LEAD:
        errors["reminder_lead"] = "The reminder lead time must be between 5 minutes and 30 days."
    if not MIN_STALE_AFTER <= pref.stale_after <= MAX_STALE_AFTER:
        errors["stale_after"] = "The stale threshold must be between 1 hour and 365 days."
    if pref.notify_webhook and not pref.webhook_url:
        errors["webhook_url"] = "Give a webhook URL to turn webhook notifications on."
    if pref.webhook_secret and len(pref.webhook_secret) < MIN_WEBHOOK_SECRET:
        errors["webhook_secret"] = f"The webhook secret must be at least {MIN_WEBHOOK_SECRET} characters."
    if errors:
        raise ValidationError(errors)
    if pref.webhook_url:
        _check_webhook_url(pref.webhook_url)


@transaction.atomic
def preference_update(*, user: Any, actor: Actor, **values: Any) -> UserPreference:
    """Change some of `user`'s preferences; returns them. Raises ValidationError on bad input.

    A webhook URL without a secret gets a generated one. Changing the webhook settings re-enables a
    webhook that was disabled after repeated failures. Writes and audits nothing when nothing changes.
    """
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown preference fields: {', '.join(sorted(unknown))}")
    preference_for(user)
    pref = UserPreference.objects.select_for_update().get(user=user)
    for name in ("quiet_start", "quiet_end"):
        if values.get(name) is not None:
            values[name] = values[name].replace(second=0, microsecond=0, tzinfo=None)
    changes = {k: (getattr(pref, k), v) for k, v in values.items() if getattr(pref, k) != v}
    for name, (_, new) in changes.items():
        setattr(pref, name, new)
    if pref.webhook_url and not pref.webhook_secret:
        pref.webhook_secret = webhook_secret_generate()
        changes["webhook_secret"] = ("", pref.webhook_secret)
    if not changes:
        return pref
    if any(name in changes for name in WEBHOOK_FIELDS) and (pref.webhook_disabled_at or pref.webhook_failures):
        changes["webhook_disabled_at"] = (pref.webhook_disabled_at, None)
        pref.webhook_disabled_at = None
        pref.webhook_failures = 0
        pref.webhook_last_error = ""
    _validate(pref)
    pref.full_clean(exclude=["user"])
    pref.updated_at = timezone.now()
    pref.save()
    if "webhook_secret" in changes:
        changes["webhook_secret"] = ("…", "… (changed)")
    audit_record(actor=actor, action="preference.update", obj=pref, changes=changes)
    return pref
