from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

from tracker_project.health import health_report
from tracker_project.outages import RETRY_AFTER_SECONDS, SERVICE_UNAVAILABLE


def health(request: HttpRequest) -> JsonResponse:
    status, body = health_report()
    return JsonResponse(body, status=status)


def server_error(request: HttpRequest) -> HttpResponse:
    """A database or Redis outage is a 503 with Retry-After (a "try again" page), not the
    generic 500 (signing in needs Redis for its rate limits when REDIS_URL is set).

    A handler500 rather than middleware: during an outage the session and user lookups already
    fail inside the middleware, which a process_exception hook never sees."""
    if isinstance(sys.exc_info()[1], SERVICE_UNAVAILABLE):
        body = loader.get_template("503.html").render()
        return HttpResponse(body, status=503, headers={"Retry-After": RETRY_AFTER_SECONDS})
    return defaults.server_error(request)
