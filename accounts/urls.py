from __future__ import annotations

from django.urls import path

from accounts import views

urlpatterns = [
    path("settings/", views.account_settings, name="account_settings"),
    path("settings/api-keys/", views.api_key_create_view, name="api_key_create"),
    path("settings/api-keys/<int:key_id>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
    path("audit/", views.audit_log, name="audit_log"),
]
