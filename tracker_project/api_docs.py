"""Who may read the API's schema and docs: the same people who may call it.

The interactive docs (`/api/v1/docs`) send an anonymous visitor to the login page; the schema
(`/api/v1/openapi.json`) answers 401 in the error envelope unless the request carries a session
or a valid `X-API-Key`. A staff session without MFA while MFA_REQUIRED_FOR_STAFF is on is sent
to set it up (the schema answers 403 MFA_REQUIRED), as everywhere else.

The docs page is Swagger UI from django-ninja's own static files (no inline script), so it runs
under the site's Content-Security-Policy unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from accounts.middleware import mfa_setup_redirect
from accounts.selectors import staff_mfa_missing
from accounts.services import api_key_authenticate
from tracker_project.api_errors import error_response


def docs_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = request.headers.get("X-API-Key", "")
        if key and api_key_authenticate(key) is not None:
            return view(request, *args, **kwargs)
        if request.user.is_authenticated:
            if not staff_mfa_missing(user=request.user):
                return view(request, *args, **kwargs)
            if request.path.endswith(".json"):
                return error_response(
                    403, "Staff accounts must set up two-factor authentication first.", "MFA_REQUIRED"
                )
            return mfa_setup_redirect(request)
        if request.path.endswith(".json"):
            return error_response(401, "Sign in, or send an X-API-Key header, to read the API schema.")
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)

    return wrapped
