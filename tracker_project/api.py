"""The JSON API at /api/v1/: one NinjaAPI, one router per app."""

from __future__ import annotations

import json
from typing import Any, Literal

from django.http import HttpRequest
from ninja import NinjaAPI, Schema, Status
from ninja.parser import Parser

from accounts.api import router as accounts_router
from accounts.api_auth import ApiKeyAuth, SessionCsrfAuth
from campaigns.api import router as campaigns_router
from integrations.api import router as integrations_router
from integrations.api_connections import router as connections_router
from leads.api import router as leads_router
from sponsors.api import router as sponsors_router
from tasks.api import router as tasks_router
from tasks.api_enrichment import router as enrichment_router
from tasks.api_notifications import router as notifications_router
from tasks.api_push import router as push_router
from tracker_project.api_errors import BodyNotJson, install_error_handlers
from tracker_project.health import health_report


class JsonBodyParser(Parser):
    """Bodies are JSON; anything else is reported as a validation error, not a bare 400."""

    def parse_body(self, request: HttpRequest) -> Any:
        try:
            return json.loads(request.body)
        except UnicodeDecodeError as exc:
            raise BodyNotJson("The request body must be UTF-8 encoded JSON.") from exc
        except (ValueError, RecursionError) as exc:
            raise BodyNotJson(f"The request body is not valid JSON: {str(exc)[:200]}") from exc


api = NinjaAPI(
    title="Tracker API",
    version="1",
    description=(
        "Tasks, sponsors, leads and campaigns. Authenticate with an `X-API-Key` header (create a key "
        "on the dashboard's Settings page or with `manage.py create_api_key`), or with the dashboard "
        "session cookie plus the `X-CSRFToken` header on unsafe methods. Every error is "
        '`{"detail": ..., "error_code": ...}`. Any path also answers with a trailing slash; an unknown '
        "query parameter is a 422. This schema and the docs pages are open; every operation needs a key "
        "or a session (use **Authorize** with your key to try them here)."
    ),
    auth=[ApiKeyAuth(), SessionCsrfAuth()],
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    parser=JsonBodyParser(),
)
install_error_handlers(api)


class HealthOut(Schema):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]
    cluster: Literal["ok", "down"]


@api.get("/health", auth=None, response={200: HealthOut, 503: HealthOut}, tags=["health"], summary="Health")
def health(request: HttpRequest) -> Status[dict[str, str]]:
    status, body = health_report()
    return Status(status, body)


api.add_router("/", tasks_router)
api.add_router("/", accounts_router)
api.add_router("/", notifications_router)
api.add_router("/", push_router)
api.add_router("/", enrichment_router)
api.add_router("/", sponsors_router)
api.add_router("/", integrations_router)
api.add_router("/", connections_router)
api.add_router("/", campaigns_router)
api.add_router("/", leads_router)
