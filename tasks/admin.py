from __future__ import annotations

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone

from accounts.admin_mixins import AuditedAdmin
from tasks.models import Notification, PushSubscription, Task
from tasks.services import task_column_end


@admin.register(Task)
class TaskAdmin(AuditedAdmin):
    list_display = ("title", "status", "priority", "due_at", "source", "sponsor", "assignee", "updated_at")
    list_filter = ("status", "priority", "source", "sponsor", ("due_at", admin.DateFieldListFilter))
    search_fields = ("title", "description", "external_id", "notes")
    list_select_related = ("sponsor", "assignee")
    autocomplete_fields = ("sponsor", "lead", "assignee", "created_by")
    readonly_fields = (
        "id",
        "position",
        "source",
        "external_id",
        "enrichment_status",
        "enrichment_error",
        "enrichment_fetched_at",
        "enrichment_checked_at",
        "created_at",
        "updated_at",
        "completed_at",
    )
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("id", "title", "description", "status", "priority", "due_at", "notes")}),
        ("Links", {"fields": ("sponsor", "lead", "assignee", "created_by")}),
        ("Origin", {"fields": ("source", "external_id", "external_ref", "external_data")}),
        (
            "Enrichment",
            {"fields": ("enrichment_status", "enrichment_error", "enrichment_fetched_at", "enrichment_checked_at")},
        ),
        ("Bookkeeping", {"fields": ("position", "created_at", "updated_at", "completed_at")}),
    )

    def save_model(self, request: HttpRequest, obj: Task, form: ModelForm, change: bool) -> None:
        # Keep the rules of the services: completed_at follows status, a task entering a column
        # goes to its end (positions stay unique per column).
        if not change or "status" in form.changed_data:
            new_status = obj.status
            if change:
                obj.status = form.initial.get("status", new_status)
            obj.set_status(new_status)
            obj.position = task_column_end(new_status, exclude=obj if change else None)
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = (
        "kind", "recipient", "created_at", "read_at", "in_app_state", "email_state", "webhook_state", "push_state",
    )  # fmt: skip
    list_filter = (
        "kind", "in_app_state", "email_state", "webhook_state", "push_state", ("read_at", admin.EmptyFieldListFilter),
    )  # fmt: skip
    search_fields = ("message", "recipient__username", "dedupe_key")
    raw_id_fields = ("recipient", "task")
    readonly_fields = (
        "dedupe_key", "created_at", "delivered_at", "email_attempts", "webhook_attempts", "push_attempts", "last_error",
    )  # fmt: skip
    date_hierarchy = "created_at"


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    """Devices people turned push on for. Staff can remove one; adding one only makes sense
    from the browser itself (it holds the keys)."""

    list_display = ("name", "user", "created_at", "last_used_at", "last_error")
    search_fields = ("name", "user__username", "user_agent")
    raw_id_fields = ("user",)
    readonly_fields = ("endpoint", "p256dh", "auth", "user_agent", "created_at", "last_used_at", "last_error")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
