from __future__ import annotations

from django.db import models
from django.utils import timezone


class Sponsor(models.Model):
    """A sponsor and its mapping to each platform its tasks are pulled from."""

    name = models.CharField(max_length=200, unique=True)
    contact_email = models.EmailField(blank=True)
    salesforce_account_id = models.CharField("Salesforce Account Id", max_length=18, blank=True)
    asana_project_gid = models.CharField("Asana project gid", max_length=64, blank=True)
    google_calendar_id = models.CharField("Google Calendar id", max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
