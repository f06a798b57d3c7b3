"""Leads: one per row of the leads Google Sheet, each with one canonical task, and the
conflicts held for a person to decide."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

# Lead status → task status, and back (LOST is terminal: a task never brings a lead back).
LEAD_TO_TASK = {"NEW": "todo", "CONTACTED": "in_progress", "QUALIFIED": "done", "LOST": "done"}
TASK_TO_LEAD = {"todo": "NEW", "in_progress": "CONTACTED", "done": "QUALIFIED"}
SYNCED_FIELDS = ("name", "email", "status", "source")


class LeadQuerySet(models.QuerySet["Lead"]):
    def search(self, text: str) -> LeadQuerySet:
        return self.filter(
            Q(name__icontains=text) | Q(email__icontains=text) | Q(sheet_id__icontains=text) | Q(source__icontains=text)
        )


class Lead(models.Model):
    """A sales lead, mirroring one row of the leads Google Sheet (matched by its `id` column)."""

    class Status(models.TextChoices):
        NEW = "NEW", "New"
        CONTACTED = "CONTACTED", "Contacted"
        QUALIFIED = "QUALIFIED", "Qualified"
        LOST = "LOST", "Lost"

    sheet_id = models.CharField(max_length=100, unique=True, help_text="The row's id, e.g. lead-1.")
    name = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    source = models.CharField(max_length=100, blank=True)
    task = models.OneToOneField(
        "tasks.Task",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="canonical_lead",
        help_text="The lead's one task; its id is written into the sheet's task_id column.",
    )
    # What both sides agreed on at the last sync (per field), plus the task's status then and
    # the task id last written to the sheet. None: never synced (a lead made in Tracker that
    # still has to be appended to the sheet).
    sync_baseline = models.JSONField(null=True, blank=True, editable=False)
    synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    removed_at = models.DateTimeField(null=True, blank=True, help_text="Set when its row vanished from the sheet.")
    sheet_row = models.PositiveIntegerField(null=True, blank=True, editable=False, help_text="Row at the last read.")
    sync_error = models.TextField(blank=True, help_text="Why its row was skipped at the last sync.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["sheet_id"]
        indexes = [models.Index(fields=["status", "sheet_id"], name="lead_status_idx")]

    def __str__(self) -> str:
        return f"{self.sheet_id} {self.name}"

    @property
    def task_status_expected(self) -> str:
        return LEAD_TO_TASK[self.status]


class LeadConflictQuerySet(models.QuerySet["LeadConflict"]):
    def open(self) -> LeadConflictQuerySet:
        return self.filter(resolved_at__isnull=True)


class LeadConflict(models.Model):
    """A field changed in the sheet and in Tracker since the last sync, held for a person
    (conflict rule "review"). The field stays as it is on both sides until it is resolved."""

    class Side(models.TextChoices):
        SHEET = "sheet", "Sheet"
        TRACKER = "tracker", "Tracker"
        AUTO = "auto", "Settled by a later change"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="conflicts")
    field = models.CharField(max_length=20)
    baseline_value = models.TextField(blank=True)
    sheet_value = models.TextField(blank=True)
    tracker_value = models.TextField(blank=True)
    run = models.ForeignKey("integrations.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=10, choices=Side.choices, blank=True)
    resolved_by = models.CharField(max_length=200, blank=True)

    objects = LeadConflictQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "field"], condition=Q(resolved_at__isnull=True), name="leadconflict_one_open_per_field"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lead.sheet_id} {self.field}: sheet {self.sheet_value!r} / tracker {self.tracker_value!r}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
