from __future__ import annotations

import uuid

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
