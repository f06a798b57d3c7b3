"""Who may read the API's schema and docs: the same people who may call it.

The interactive docs (`/api/v1/docs`) send an anonymous visitor to the login page; the schema
(`/api/v1/openapi.json`) answers 401 in the error envelope unless the request carries a session
or a valid `X-API-Key`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from accounts.services import api_key_authenticate
from tracker_project.api_errors import error_response


def docs_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        key = request.headers.get("X-API-Key", "")
        if key and api_key_authenticate(key) is not None:
            return view(request, *args, **kwargs)
        if request.path.endswith(".json"):
            return error_response(401, "Sign in, or send an X-API-Key header, to read the API schema.")
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)

    return wrapped
