"""The API's documentation pages: Swagger UI at /api/v1/docs and /docs, ReDoc at /redoc.

They and the schema (/api/v1/openapi.json) are open to everyone: the schema describes the
operations and holds no data, and a visitor holding only an API key must be able to read the
docs and use Swagger UI's "Authorize" (the schema's `X-API-Key` header scheme), after which
"Try it out" sends the key with every call. Every operation still needs a key or a session.
Both pages load their scripts from this server's own static files (django-ninja ships them).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from tracker_project.api import api


@require_safe
def swagger_page(request: HttpRequest) -> HttpResponse:
    """The same Swagger UI page as /api/v1/docs, at the address people try first."""
    return api.docs.render_page(request, api)


@require_safe
def redoc_page(request: HttpRequest) -> HttpResponse:
    """The API reference as a ReDoc page (read-only, no "Try it out")."""
    openapi_url = reverse(f"{api.urls_namespace}:openapi-json")
    response = render(request, "api/redoc.html", {"api": api, "openapi_json_url": openapi_url})
    # ReDoc styles itself by inserting <style> elements (styled-components), searches in a worker
    # made from a blob: URL, and shows Redocly's logo from its CDN. Only this page, which shows the
    # public schema and nothing of anyone's data, is allowed those.
    response._csp_update = {  # type: ignore[attr-defined]  (read by django-csp)
        "style-src": ["'unsafe-inline'"],
        "worker-src": ["'self'", "blob:"],
        "img-src": ["https://cdn.redoc.ly"],
    }
    return response
