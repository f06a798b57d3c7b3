"""Admin changes go through the audit trail like every other interface."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.actor import ORIGIN_ADMIN, Actor
from accounts.services import audit_record


class AuditedAdmin(admin.ModelAdmin):
    """Records create / update / delete made in the admin as audit events with origin "admin"."""

    def _actor(self, request: HttpRequest) -> Actor:
        return Actor.from_request(request, origin=ORIGIN_ADMIN)

    def save_model(self, request: HttpRequest, obj: models.Model, form: ModelForm, change: bool) -> None:
        changes: dict[str, tuple[Any, Any]] = {}
        for name in form.changed_data:
            if name in form.initial or not change:
                before = form.initial.get(name) if change else None
                after = form.cleaned_data.get(name)
                changes[name] = (getattr(before, "pk", before), getattr(after, "pk", after))
        super().save_model(request, obj, form, change)
        label = obj._meta.model_name
        audit_record(
            actor=self._actor(request), action=f"{label}.{'update' if change else 'create'}", obj=obj, changes=changes
        )

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        audit_record(actor=self._actor(request), action=f"{obj._meta.model_name}.delete", obj=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        actor = self._actor(request)
        for obj in queryset:
            audit_record(actor=actor, action=f"{obj._meta.model_name}.delete", obj=obj)
        super().delete_queryset(request, queryset)
