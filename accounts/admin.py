from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.actor import ORIGIN_ADMIN, Actor
from accounts.models import ApiKey, AuditEvent, RateLimitCounter, UserPreference
from accounts.services import api_key_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created by their owner (Settings page or create_api_key); staff can only revoke."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        actor = Actor.from_request(request, origin=ORIGIN_ADMIN)
        for key in queryset:
            api_key_revoke(api_key=key, actor=actor)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail cannot be edited or deleted through any interface."""

    list_display = ("created_at", "actor_label", "origin", "action", "object_type", "object_repr", "ip")
    list_filter = ("origin", "action", "object_type", "created_at")
    search_fields = ("actor_label", "object_repr", "object_id", "action")
    date_hierarchy = "created_at"
    list_select_related = ("actor_user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False


@admin.register(RateLimitCounter)
class RateLimitCounterAdmin(admin.ModelAdmin):
    list_display = ("bucket", "count", "expires_at")
    search_fields = ("bucket",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RateLimitCounter | None = None) -> bool:
        return False


@admin.register(UserPreference)
class UserPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "time_zone", "quiet_start", "quiet_end", "digest", "notify_email", "notify_webhook")
    list_filter = ("digest", "notify_email", "notify_webhook", "time_zone")
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)
    readonly_fields = ("webhook_failures", "webhook_disabled_at", "webhook_last_error", "updated_at")
