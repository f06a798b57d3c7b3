from __future__ import annotations

from django.contrib import admin

from accounts.admin_mixins import AuditedAdmin
from leads.models import Lead, LeadConflict


@admin.register(Lead)
class LeadAdmin(AuditedAdmin):
    list_display = ("sheet_id", "name", "email", "status", "source", "task", "synced_at", "removed_at")
    list_filter = ("status", "source")
    search_fields = ("sheet_id", "name", "email")
    raw_id_fields = ("task",)
    readonly_fields = ("sync_baseline", "synced_at", "sheet_row", "sync_error")


@admin.register(LeadConflict)
class LeadConflictAdmin(AuditedAdmin):
    list_display = ("lead", "field", "sheet_value", "tracker_value", "created_at", "resolved_at", "resolution")
    list_filter = ("field", "resolution")
    search_fields = ("lead__sheet_id", "lead__name")
    raw_id_fields = ("lead", "run")
