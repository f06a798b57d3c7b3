from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone

# Gap between neighbours when a column is (re)spaced; a move halves a gap, so about 16 moves
# into the same spot fit before the column has to be re-spaced.
POSITION_GAP = 65_536


class TaskQuerySet(models.QuerySet["Task"]):
    def overdue(self, *, now: timezone.datetime | None = None) -> TaskQuerySet:
        now = now or timezone.now()
        return self.filter(due_at__lt=now).exclude(status=Task.Status.DONE)

    def search(self, text: str) -> TaskQuerySet:
        return self.filter(Q(title__icontains=text) | Q(description__icontains=text))

    def with_priority_rank(self) -> TaskQuerySet:
        return self.annotate(
            priority_rank=Case(
                When(priority=Task.Priority.HIGH, then=Value(0)),
                When(priority=Task.Priority.MEDIUM, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )


class Task(models.Model):
    """The unified task, whatever system it came from."""

    class Status(models.TextChoices):
        TODO = "todo", "To do"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        SALESFORCE = "salesforce", "Salesforce"
        ASANA = "asana", "Asana"
        GOOGLE_CALENDAR = "google_calendar", "Google Calendar"
        SHEET = "sheet", "Lead sheet"

    class EnrichmentStatus(models.TextChoices):
        """Where the `external_ref` lookup stands ("" = no external reference)."""

        OK = "ok", "OK"
        PENDING = "pending", "Pending (will retry)"
        FAILED = "failed", "Failed"
        NOT_FOUND = "not_found", "Not found"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.TODO)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    position = models.BigIntegerField(default=0)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    sponsor = models.ForeignKey(
        "sponsors.Sponsor", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    lead = models.ForeignKey("leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_tasks"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="created_tasks"
    )
    notes = models.TextField(blank=True)
    external_url = models.URLField(max_length=500, blank=True, help_text="Link back to the source record.")
    # Pull-sync bookkeeping (see integrations): what upstream said at the last pull, so a local
    # edit is kept unless the upstream record itself changed since.
    sync_baseline = models.JSONField(null=True, blank=True, editable=False)
    synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    removed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the record vanished upstream; the task is kept."
    )
    external_ref = models.CharField(max_length=100, blank=True)
    external_data = models.JSONField(null=True, blank=True)
    enrichment_status = models.CharField(
        max_length=10, choices=EnrichmentStatus.choices, blank=True, default="", db_index=True
    )
    enrichment_error = models.TextField(blank=True, help_text="Why the last attempt failed (blank after a good one).")
    # A failed refresh keeps external_data: these say how old it is and when it was last tried.
    enrichment_fetched_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When external_data was last fetched successfully."
    )
    enrichment_checked_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the external API was last asked, whatever it answered."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["status", "position"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="task_source_external_id_uniq"),
            # Deferred so a column can be re-spaced in one UPDATE; PostgreSQL enforces it at commit.
            models.UniqueConstraint(
                fields=["status", "position"],
                name="task_status_position_uniq",
                deferrable=models.Deferrable.DEFERRED,
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(status="done"), name="task_completed_only_when_done"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "position"], name="task_status_position_idx"),
            models.Index(fields=["sponsor", "status"], name="task_sponsor_status_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def set_status(self, status: str, *, now: timezone.datetime | None = None) -> None:
        """Change status, keeping completed_at in step: set on done, cleared on reopen."""
        if status == self.status:
            return
        self.status = status
        self.completed_at = (now or timezone.now()) if status == self.Status.DONE else None

    @property
    def is_overdue(self) -> bool:
        return self.due_at is not None and self.status != self.Status.DONE and self.due_at < timezone.now()


class NotificationQuerySet(models.QuerySet["Notification"]):
    def visible(self) -> NotificationQuerySet:
        """What the bell and the notifications page show: delivered in the app."""
        return self.filter(in_app_state=Notification.State.SENT)

    def unread(self) -> NotificationQuerySet:
        return self.visible().filter(read_at__isnull=True)

    def due_for_delivery(self, *, now: timezone.datetime) -> NotificationQuerySet:
        """Not yet fully delivered, out of quiet hours and not backing off."""
        return self.filter(
            Q(delivered_at__isnull=True),
            Q(deliver_after__isnull=True) | Q(deliver_after__lte=now),
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        )


class Notification(models.Model):
    """One message to one person, delivered on each of their channels at most once.

    `dedupe_key` is unique: every job inserts with ON CONFLICT DO NOTHING, so running a job twice,
    or on two clusters at once, cannot create the same notification twice.
    """

    class Kind(models.TextChoices):
        DUE_SOON = "due_soon", "Due soon"
        OVERDUE = "overdue", "Overdue"
        STALE = "stale", "Stale"
        SYNC_FAILED = "sync_failed", "Sync failed"
        CAMPAIGN_ALERT = "campaign_alert", "Campaign alert"
        MENTION = "mention", "Mention"
        WEBHOOK_DISABLED = "webhook_disabled", "Webhook disabled"
        DIGEST = "digest", "Daily digest"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        DIGEST = "digest", "Waiting for the daily digest"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications")
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    message = models.TextField()
    url = models.CharField(max_length=500, blank=True, help_text="Path of the page the message is about.")
    payload = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    deliver_after = models.DateTimeField(null=True, blank=True, help_text="Held back until quiet hours end.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Retry (or delivery lease) time.")
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="Every channel is done with it.")
    in_app_state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    email_state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    webhook_state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    webhook_attempts = models.PositiveSmallIntegerField(default=0)
    push_state = models.CharField(max_length=10, choices=State.choices, default=State.SKIPPED)
    push_attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "in_app_state", "read_at"], name="notification_inbox_idx"),
            models.Index(
                fields=["created_at"], condition=Q(delivered_at__isnull=True), name="notification_undelivered_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient}: {self.message[:60]}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def channel_states(self) -> dict[str, str]:
        return {
            "in_app": self.in_app_state,
            "email": self.email_state,
            "webhook": self.webhook_state,
            "push": self.push_state,
        }


class PushSubscription(models.Model):
    """One browser or phone a person turned Web Push on for (the W3C Push API subscription).

    `endpoint` is the push service's URL for this device (unique: a browser has one per site);
    `p256dh` and `auth` are the device's public key and auth secret, which encrypt every payload
    so that only that device can read it (RFC 8291). None of them lets anyone read the user's
    data here, so they are stored as given. A push service answering 404 or 410 means the
    subscription is gone: it is deleted then.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=2000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    name = models.CharField(max_length=100, help_text="What the person sees, e.g. “Chrome on Android”.")
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="Last push the push service accepted.")
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    def subscription_info(self) -> dict[str, Any]:
        """The subscription in the browser's JSON shape (what pywebpush takes)."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}
