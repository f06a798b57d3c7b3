from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

API_KEY_PREFIX = "trk_"


def api_key_hash(raw_key: str) -> str:
    """SHA-256 of the raw key: keys are long random strings, so a fast hash is enough."""
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_generate() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A per-user API key. Only its hash and a short display prefix are stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters of the key, for recognising it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def for_object(self, obj: models.Model) -> AuditEventQuerySet:
        return self.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))


class AuditEvent(models.Model):
    """An append-only record of a change: who, what, on which object, before/after, from where."""

    class Origin(models.TextChoices):
        WEB = "web", "Dashboard"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        SYNC = "sync", "Sync"
        SYSTEM = "system", "System"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="User, 'user (key NAME)' or system job.")
    api_key_name = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=50, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="{field: [before, after]}")
    origin = models.CharField(max_length=10, choices=Origin.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"


class RateLimitCounter(models.Model):
    """Fixed-window request counters when no Redis is configured (atomic upsert per request)."""

    bucket = models.CharField(max_length=120, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.bucket}={self.count}"


def validate_time_zone(value: str) -> None:
    """Accept only IANA zone names this machine knows (e.g. "Europe/Berlin", "UTC")."""
    if value not in available_time_zones():
        raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. Europe/Berlin).", code="time_zone")


@functools.cache
def available_time_zones() -> frozenset[str]:
    """IANA zone names (read once from the tz database)."""
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


DEFAULT_REMINDER_LEAD = timedelta(hours=24)
DEFAULT_STALE_AFTER = timedelta(days=7)


class UserPreference(models.Model):
    """How and when one person wants to be notified. Created lazily with defaults."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    quiet_start = models.TimeField(
        null=True, blank=True, help_text="Start of quiet hours in your time zone; empty means no quiet hours."
    )
    quiet_end = models.TimeField(null=True, blank=True, help_text="End of quiet hours; may be past midnight.")
    reminder_lead = models.DurationField(default=DEFAULT_REMINDER_LEAD, help_text="How long before a due time.")
    stale_after = models.DurationField(default=DEFAULT_STALE_AFTER, help_text="No update for this long = stale.")
    notify_in_app = models.BooleanField(default=True)
    notify_email = models.BooleanField(default=True)
    notify_webhook = models.BooleanField(default=False)
    notify_push = models.BooleanField(
        default=True, help_text="Push notifications to the browsers and phones you enabled push on."
    )
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.CharField(max_length=128, blank=True)
    digest = models.BooleanField(default=False, help_text="One email/webhook message a day instead of one each.")
    webhook_failures = models.PositiveIntegerField(default=0, help_text="Consecutive failed webhook deliveries.")
    webhook_disabled_at = models.DateTimeField(null=True, blank=True)
    webhook_last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(quiet_start__isnull=True) & Q(quiet_end__isnull=True))
                | (Q(quiet_start__isnull=False) & Q(quiet_end__isnull=False)),
                name="userpreference_quiet_hours_both_or_neither",
            ),
        ]

    def __str__(self) -> str:
        return f"Preferences of {self.user}"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        try:
            return zoneinfo.ZoneInfo(self.time_zone or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo("UTC")

    @property
    def has_quiet_hours(self) -> bool:
        return self.quiet_start is not None and self.quiet_end is not None and self.quiet_start != self.quiet_end

    @property
    def webhook_active(self) -> bool:
        return self.notify_webhook and bool(self.webhook_url) and self.webhook_disabled_at is None

    def quiet_until(self, at: dt.datetime) -> dt.datetime | None:
        """If `at` falls in quiet hours, the instant (UTC) they end; else None.

        Quiet hours are wall-clock times in the user's zone and may wrap past midnight
        (22:00–07:00). The end is resolved on the right local date and then converted, so a
        daylight-saving change during the night moves the UTC instant, not the local one.
        """
        if not self.has_quiet_hours:
            return None
        zone = self.zone
        local = at.astimezone(zone)
        now_t = local.time().replace(tzinfo=None)
        start, end = self.quiet_start, self.quiet_end
        if start < end:
            if not (start <= now_t < end):
                return None
            end_date = local.date()
        else:
            if now_t >= start:
                end_date = local.date() + timedelta(days=1)
            elif now_t < end:
                end_date = local.date()
            else:
                return None
        # fold=0: an end time that does not exist (clocks jump forward over it) resolves to the
        # moment just after the jump; one that happens twice (clocks go back) to its first pass.
        ends = dt.datetime.combine(end_date, end, tzinfo=zone).astimezone(dt.UTC)
        return ends if ends > at else None
