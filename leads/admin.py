from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils import timezone

from accounts.admin_mixins import AuditedAdmin
from leads.models import Lead, LeadConflict


@admin.register(Lead)
class LeadAdmin(AuditedAdmin):
    list_display = ("sheet_id", "name", "email", "status", "source", "task", "synced_at", "removed_at")
    list_filter = ("status", "source")
    search_fields = ("sheet_id", "name", "email")
    raw_id_fields = ("task",)
    readonly_fields = ("sync_baseline", "synced_at", "sheet_row", "sync_error", "updated_at")

    def save_model(self, request: Any, obj: Lead, form: Any, change: bool) -> None:
        obj.updated_at = timezone.now()  # not auto_now: the sync sets it only for real edits
        super().save_model(request, obj, form, change)


@admin.register(LeadConflict)
class LeadConflictAdmin(AuditedAdmin):
    list_display = ("lead", "field", "sheet_value", "tracker_value", "created_at", "resolved_at", "resolution")
    list_filter = ("field", "resolution")
    search_fields = ("lead__sheet_id", "lead__name")
    raw_id_fields = ("lead", "run")
