from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

# Each pulled source and the sponsor field holding the sponsor's id on that platform.
SOURCE_FIELDS: dict[str, str] = {
    "salesforce": "salesforce_account_id",
    "asana": "asana_project_gid",
    "google_calendar": "google_calendar_id",
}
PULL_SOURCES: tuple[str, ...] = tuple(SOURCE_FIELDS)

salesforce_id_validator = RegexValidator(
    r"^([A-Za-z0-9]{15}|[A-Za-z0-9]{18})$", "A Salesforce Account Id is 15 or 18 letters and digits (001…)."
)
asana_gid_validator = RegexValidator(r"^[0-9]{1,64}$", "An Asana project gid is digits only (see the project's URL).")
calendar_id_validator = RegexValidator(
    r"^[^\s\x00-\x1f]+$", "A Google Calendar id has no spaces (e.g. …@group.calendar.google.com)."
)


class SponsorQuerySet(models.QuerySet["Sponsor"]):
    def active(self) -> SponsorQuerySet:
        return self.filter(is_active=True)


class Sponsor(models.Model):
    """A sponsor and its mapping to each platform its tasks are pulled from."""

    name = models.CharField(max_length=200, unique=True)
    contact_email = models.EmailField(blank=True)
    salesforce_account_id = models.CharField(
        "Salesforce Account Id", max_length=18, blank=True, validators=[salesforce_id_validator]
    )
    asana_project_gid = models.CharField(
        "Asana project gid", max_length=64, blank=True, validators=[asana_gid_validator]
    )
    google_calendar_id = models.CharField(
        "Google Calendar id", max_length=255, blank=True, validators=[calendar_id_validator]
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_sponsors",
        help_text="The person responsible for the sponsor (gets its campaign alert tasks).",
    )
    is_active = models.BooleanField(default=True, help_text="Inactive sponsors are not pulled by the schedule.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SponsorQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def sync_scope(self) -> str:
        """The SyncRun / ConnectorState scope of this sponsor's pulls."""
        return sponsor_scope(self.pk)

    def platform_id(self, source: str) -> str:
        """The sponsor's id on `source` ("" when not mapped)."""
        field = SOURCE_FIELDS.get(source)
        return (getattr(self, field) or "").strip() if field else ""

    def mapped_sources(self) -> list[str]:
        return [source for source in PULL_SOURCES if self.platform_id(source)]


def sponsor_scope(sponsor_id: int) -> str:
    return f"sponsor:{sponsor_id}"
