from __future__ import annotations

from django.contrib import admin

from accounts.admin_mixins import AuditedAdmin
from sponsors.models import Sponsor


@admin.register(Sponsor)
class SponsorAdmin(AuditedAdmin):
    list_display = ("name", "contact_email", "is_active", "salesforce_account_id", "asana_project_gid", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "contact_email", "salesforce_account_id", "asana_project_gid", "google_calendar_id")
