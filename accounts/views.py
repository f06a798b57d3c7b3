from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def account_settings(request: HttpRequest) -> HttpResponse:
    return HttpResponse("settings")


def api_key_create_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("create")


def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    return HttpResponse("revoke")


def audit_log(request: HttpRequest) -> HttpResponse:
    return HttpResponse("audit")
