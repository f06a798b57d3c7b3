"""The JSON API at /api/v1/: one NinjaAPI, one router per app."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import NinjaAPI, Schema

from accounts.api import router as accounts_router
from accounts.api_auth import ApiKeyAuth, SessionCsrfAuth
from tasks.api import router as tasks_router
from tracker_project.api_errors import install_error_handlers
from tracker_project.health import health_report

api = NinjaAPI(
    title="Tracker API",
    version="1",
    description=(
        "Tasks, sponsors, leads and campaigns. Authenticate with an `X-API-Key` header (create a key "
        "on the dashboard's Settings page or with `manage.py create_api_key`), or with the dashboard "
        "session cookie plus the `X-CSRFToken` header on unsafe methods. Every error is "
        '`{"detail": ..., "error_code": ...}`.'
    ),
    auth=[ApiKeyAuth(), SessionCsrfAuth()],
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)


class HealthOut(Schema):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]
    cluster: Literal["ok", "down"]


@api.get("/health", auth=None, response={200: HealthOut, 503: HealthOut}, tags=["health"], summary="Health")
def health(request: HttpRequest) -> tuple[int, dict[str, str]]:
    return health_report()


api.add_router("/", tasks_router)
api.add_router("/", accounts_router)
