"""Until the lead mounts them: the product's URLs plus the sponsors and sync routers and pages,
on a NinjaAPI built like the real one (same auth, same error envelope).

Use with @pytest.mark.urls("integrations.tests.urls_for_tests")."""

from __future__ import annotations

from django.urls import include, path
from ninja import NinjaAPI

from accounts.api_auth import ApiKeyAuth, SessionCsrfAuth
from integrations.api import router as integrations_router
from sponsors.api import router as sponsors_router
from tracker_project.api import JsonBodyParser
from tracker_project.api_errors import install_error_handlers
from tracker_project.urls import urlpatterns as product_urlpatterns

api = NinjaAPI(
    title="Tracker API (sync tests)",
    version="sync-tests",
    auth=[ApiKeyAuth(), SessionCsrfAuth()],
    urls_namespace="api_sync_tests",
    parser=JsonBodyParser(),
)
install_error_handlers(api)
api.add_router("/", sponsors_router)
api.add_router("/", integrations_router)

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("sponsors.urls")),
    path("", include("integrations.urls")),
    *product_urlpatterns,
]
