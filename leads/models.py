from __future__ import annotations

from django.db import models
from django.utils import timezone


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
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sheet_id"]

    def __str__(self) -> str:
        return f"{self.sheet_id} {self.name}"
