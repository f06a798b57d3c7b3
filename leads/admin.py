from __future__ import annotations

from django.contrib import admin

from accounts.admin_mixins import AuditedAdmin
from leads.models import Lead


@admin.register(Lead)
class LeadAdmin(AuditedAdmin):
    list_display = ("sheet_id", "name", "email", "status", "source", "updated_at")
    list_filter = ("status", "source")
    search_fields = ("sheet_id", "name", "email")
