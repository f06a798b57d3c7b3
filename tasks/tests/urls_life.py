"""Test-only URLconf: the notification and enrichment routers on a NinjaAPI of their own, in
front of the real URLs, so they can be tested before (and after) they are mounted on the main API."""

from __future__ import annotations

from django.urls import include, path
from ninja import NinjaAPI

from accounts.api_auth import ApiKeyAuth, SessionCsrfAuth
from tasks.api_enrichment import router as enrichment_router
from tasks.api_notifications import router as notifications_router
from tracker_project.api_errors import install_error_handlers
from tracker_project.urls import urlpatterns as root_urlpatterns

api = NinjaAPI(title="Tracker API (lifecycle tests)", urls_namespace="life_api", auth=[ApiKeyAuth(), SessionCsrfAuth()])
install_error_handlers(api)
api.add_router("/", notifications_router)
api.add_router("/", enrichment_router)

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("tasks.urls_notifications")),
    *root_urlpatterns,
]
