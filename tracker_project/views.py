"""The health endpoint and the error handlers (handler400/403/404/500 in urls.py).

The error pages must work when the rest of the site does not: they render their self-contained
templates without the request (so no context processor touches the database) and without any
static file, fall back to a built-in page if even that fails, and under /api/ they answer the
API's JSON envelope without touching a template at all.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import sys
from html import escape

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from tracker_project.api_errors import error_response
from tracker_project.health import health_report
from tracker_project.outages import RETRY_AFTER_SECONDS, SERVICE_UNAVAILABLE

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"

# status -> (template, title used by the built-in fallback page, the API's `detail`)
ERROR_PAGES: dict[int, tuple[str, str, str]] = {
    400: ("400.html", "Bad request", "Bad request."),
    403: ("403.html", "You cannot open this page", "You do not have permission to do this."),
    404: ("404.html", "Page not found", "Not found."),
    500: ("500.html", "Something went wrong", "Internal error; it has been logged."),
    503: ("503.html", "Temporarily unavailable", "A service Tracker needs is unavailable; retry shortly."),
}


STYLE_ELEMENT = re.compile(r"<style>(.*?)</style>", re.S)


def _style_hash(css: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii") + "'"


def health(request: HttpRequest) -> JsonResponse:
    status, body = health_report()
    return JsonResponse(body, status=status)


def error_page(request: HttpRequest, status: int, **headers: str) -> HttpResponse:
    """The response for an error `status`: the JSON envelope under /api/, else the error page.

    Never raises: a template that cannot be rendered is logged and replaced by a plain page."""
    template, title, detail = ERROR_PAGES[status]
    if request.path.startswith(API_PREFIX):
        return error_response(status, detail, **headers)
    try:
        body = loader.render_to_string(template)
    except Exception:  # an error page must not fail; the cause is logged
        logger.exception("Error page %s could not be rendered; sent the built-in one", template)
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)} · Tracker</title></head>"
            f'<body><main><h1>{escape(title)}</h1><p><a href="/">Back to the overview</a></p></main></body></html>'
        )
    response = HttpResponse(body, status=status)
    # The page's own <style> (it may not rely on a static file) is allowed by its hash only, so
    # the Content-Security-Policy keeps refusing any other inline style.
    hashes = [_style_hash(css) for css in STYLE_ELEMENT.findall(body)]
    if hashes:
        response._csp_update = {"style-src": hashes}  # type: ignore[attr-defined]  (read by django-csp)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """A database or Redis outage is a 503 with Retry-After (a "try again" page), not the
    generic 500 (signing in needs Redis for its rate limits when REDIS_URL is set).

    A handler500 rather than middleware: during an outage the session and user lookups already
    fail inside the middleware, which a process_exception hook never sees."""
    if isinstance(sys.exc_info()[1], SERVICE_UNAVAILABLE):
        return error_page(request, 503, Retry_After=RETRY_AFTER_SECONDS)
    return error_page(request, 500)
