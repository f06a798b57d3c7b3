from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.actor import ORIGIN_ADMIN, Actor
from integrations.connect import connection_disconnect
from integrations.connection_services import connection_delete, connection_relabel
from integrations.models import SECRET_NAMES, Connection, ConnectorState, SyncRecordError, SyncRun
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
    list_display = (
        "connector",
        "scope",
        "needs_reauth",
        "last_success_at",
        "last_error_at",
        "consecutive_failures",
        "breaker_open_until",
        "cursor_target",
    )
    list_filter = ("connector", "needs_reauth")
    search_fields = ("scope", "last_error")
    readonly_fields = (
        "last_run",
        "updated_at",
        "last_success_at",
        "last_error",
        "last_error_at",
        "consecutive_failures",
        "breaker_open_until",
        "breaker_opened_at",
        "details",
    )
    actions = ["forget_cursor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Forget the cursor (the next pull is a full one)")
    def forget_cursor(self, request: HttpRequest, queryset: models.QuerySet[ConnectorState]) -> None:
        for state in queryset:
            connector_state_reset(connector=state.connector, scope=state.scope)
        self.message_user(request, f"{queryset.count()} cursor(s) forgotten.")


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Connections are made through the dashboard's consent flow or the API (which verify the
    credentials); here they can be read, relabelled, disconnected and deleted, each through its
    service (audited). The status is read-only: only the services move it (an edited status
    would skip the revocation and the audit). Secrets are masked."""

    list_display = ("id", "platform", "label", "auth", "status", "account_name", "expires_at", "last_refreshed_at")
    list_filter = ("platform", "status", "auth")
    search_fields = ("label", "account_name", "account_email", "account_id")
    fields = (
        "platform",
        "label",
        "auth",
        "status",
        "account_id",
        "account_name",
        "account_email",
        "account_extra",
        "scopes",
        "secrets_masked",
        "expires_at",
        "last_refreshed_at",
        "last_verified_at",
        "last_error",
        "last_error_at",
        "connected_by",
        "connected_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = tuple(f for f in fields if f != "label")
    actions = ["disconnect"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Connection, form: ModelForm, change: bool) -> None:
        # Not obj.save(): that would write every column back, over a token refreshed meanwhile.
        if change and "label" in form.changed_data:
            actor = Actor.from_request(request, origin=ORIGIN_ADMIN)
            connection_relabel(connection=obj, label=form.cleaned_data["label"], actor=actor)

    @admin.action(description="Disconnect (revoke at the platform, delete the tokens here)")
    def disconnect(self, request: HttpRequest, queryset: models.QuerySet[Connection]) -> None:
        actor = Actor.from_request(request, origin=ORIGIN_ADMIN)
        failed: list[str] = []
        for connection in queryset:
            outcome = connection_disconnect(connection=connection, actor=actor)
            if outcome.revoke_error:
                failed.append(f"{connection}: {outcome.revoke_error}")
        self.message_user(request, f"{queryset.count()} connection(s) disconnected.")
        for text in failed:
            self.message_user(request, f"Not revoked at the platform: {text}", level="warning")

    @admin.display(description="Secrets")
    def secrets_masked(self, obj: Connection) -> str:
        """Which secrets are held, never their value."""
        try:
            held = obj.secrets
        except Exception:  # noqa: BLE001  (a key problem must not break the page)
            return "•••• (cannot be decrypted with the configured keys)"
        return ", ".join(f"{name}: ••••" for name in SECRET_NAMES if held.get(name)) or "(none)"

    def delete_model(self, request: HttpRequest, obj: Connection) -> None:
        connection_delete(connection=obj, actor=Actor.from_request(request, origin=ORIGIN_ADMIN))

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Connection]) -> None:
        actor = Actor.from_request(request, origin=ORIGIN_ADMIN)
        for obj in queryset:
            connection_delete(connection=obj, actor=actor)
