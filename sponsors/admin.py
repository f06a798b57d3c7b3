from __future__ import annotations

from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest

from accounts.actor import ORIGIN_ADMIN, Actor
from accounts.admin_mixins import AuditedAdmin
from integrations.models import SyncRun
from sponsors import services
from sponsors.models import Sponsor


@admin.register(Sponsor)
class SponsorAdmin(AuditedAdmin):
    list_display = ("name", "contact_email", "is_active", "salesforce_account_id", "asana_project_gid", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "contact_email", "salesforce_account_id", "asana_project_gid", "google_calendar_id")
    actions = ["pull_now"]

    # Deleting here does what the dashboard does: pulled tasks go, other tasks stay unlinked.
    def delete_model(self, request: HttpRequest, obj: Sponsor) -> None:
        services.sponsor_delete(sponsor=obj, actor=Actor.from_request(request, origin=ORIGIN_ADMIN))

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Sponsor]) -> None:
        actor = Actor.from_request(request, origin=ORIGIN_ADMIN)
        for sponsor in queryset:
            services.sponsor_delete(sponsor=sponsor, actor=actor)

    @admin.action(description="Pull the selected sponsors' tasks now")
    def pull_now(self, request: HttpRequest, queryset: models.QuerySet[Sponsor]) -> None:
        actor = Actor.from_request(request, origin=ORIGIN_ADMIN)
        queued = 0
        for sponsor in queryset:
            try:
                queued += len(
                    services.sponsor_sync_request(sponsor=sponsor, actor=actor, trigger=SyncRun.Trigger.MANUAL)
                )
            except services.SponsorNotMapped:
                self.message_user(request, f"{sponsor} has no platform mapping.", messages.WARNING)
        self.message_user(request, f"{queued} pull(s) queued; see the sync centre.")
