from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from integrations.models import ConnectorState, SyncRecordError, SyncRun
from integrations.services import connector_state_reset


class SyncRecordErrorInline(admin.TabularInline):
    model = SyncRecordError
    fields = ("kind", "external_id", "message", "detail")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """Run history is written by the syncs only: read-only here."""

    list_display = (
        "id",
        "connector",
        "scope",
        "sponsor",
        "trigger",
        "status",
        "fetched",
        "created",
        "updated",
        "removed",
        "failed",
        "started_at",
        "duration_seconds",
    )
    list_filter = ("status", "connector", "trigger")
    search_fields = ("scope", "error", "sponsor__name")
    date_hierarchy = "started_at"
    list_select_related = ("sponsor",)
    inlines = [SyncRecordErrorInline]

    def get_readonly_fields(self, request: HttpRequest, obj: SyncRun | None = None) -> list[str]:
        return [f.name for f in SyncRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SyncRun | None = None) -> bool:
        return False


@admin.register(ConnectorState)
class ConnectorStateAdmin(admin.ModelAdmin):
    list_display = ("connector", "scope", "needs_reauth", "last_success_at", "last_error_at", "cursor_target")
    list_filter = ("connector", "needs_reauth")
    search_fields = ("scope", "last_error")
    readonly_fields = ("last_run", "updated_at", "last_success_at", "last_error", "last_error_at", "details")
    actions = ["forget_cursor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Forget the cursor (the next pull is a full one)")
    def forget_cursor(self, request: HttpRequest, queryset: models.QuerySet[ConnectorState]) -> None:
        for state in queryset:
            connector_state_reset(connector=state.connector, scope=state.scope)
        self.message_user(request, f"{queryset.count()} cursor(s) forgotten.")
