from __future__ import annotations

import sys

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

from tracker_project.health import health_report


def health(request: HttpRequest) -> JsonResponse:
    status, body = health_report()
    return JsonResponse(body, status=status)


def server_error(request: HttpRequest) -> HttpResponse:
    """A database outage is a 503 with Retry-After (a "try again" page), not the generic 500.

    A handler500 rather than middleware: during an outage the session and user lookups already
    fail inside the middleware, which a process_exception hook never sees."""
    if isinstance(sys.exc_info()[1], OperationalError):
        body = loader.get_template("503.html").render()
        return HttpResponse(body, status=503, headers={"Retry-After": "5"})
    return defaults.server_error(request)
