from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from tracker_project.health import health_report


def health(request: HttpRequest) -> JsonResponse:
    status, body = health_report()
    return JsonResponse(body, status=status)
