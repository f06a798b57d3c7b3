"""Every dashboard page needs a signed-in user (and, when required, staff need MFA); the API
answers 401 itself; a few paths are open."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse

from accounts.selectors import staff_mfa_missing

# The API does its own auth (API key or session) and answers in JSON; allauth's pages handle
# their own access (login, password reset, signup); the admin has its own staff check. The web app
# manifest and the push service worker hold no data (browsers fetch the manifest without cookies).
logger = logging.getLogger(__name__)

OPEN_PREFIXES = (
    "/api/", "/accounts/", "/admin/", "/health", "/static/", "/favicon.ico",
    "/manifest.webmanifest", "/service-worker.js",
)  # fmt: skip
# The API's docs pages (they hold no data; the API they describe still needs a key or a session).
OPEN_PATHS = frozenset({"/docs", "/redoc"})


class LoginRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if not (path.startswith(OPEN_PREFIXES) or path in OPEN_PATHS) and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)


# What a staff user without MFA may still reach: allauth's pages (the MFA set-up itself, sign-out,
# re-authentication, password change), static files and health. The API is gated where it
# authenticates (accounts.api_auth.SessionCsrfAuth and tracker_project.api_docs), because an API
# key, a credential of its own, keeps working.
# Also the public API docs and the web app's manifest and service worker (they hold no data, and
# a browser refuses a service worker answered with a redirect).
MFA_OPEN_PREFIXES = (
    "/accounts/", "/api/", "/health", "/static/", "/favicon.ico",
    "/docs", "/redoc", "/manifest.webmanifest", "/service-worker.js",
)  # fmt: skip
MFA_SETUP_MESSAGE = "Staff accounts must set up two-factor authentication before using Tracker."


def mfa_setup_redirect(request: HttpRequest) -> HttpResponse:
    """Send the user to allauth's authenticator-app set-up page, saying why.

    An htmx request (a partial update) gets HX-Redirect, so the whole page moves instead of the
    set-up page being swapped into a fragment."""
    url = reverse("mfa_activate_totp")
    if request.headers.get("HX-Request") == "true":
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    messages.warning(request, MFA_SETUP_MESSAGE)
    return HttpResponseRedirect(url)


class StaffMfaRequiredMiddleware:
    """With MFA_REQUIRED_FOR_STAFF, every dashboard and admin page sends a staff user who has no
    second factor to the set-up page until they have one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.MFA_REQUIRED_FOR_STAFF
            and not request.path.startswith(MFA_OPEN_PREFIXES)
            and staff_mfa_missing(user=request.user)
        ):
            return mfa_setup_redirect(request)
        return self.get_response(request)


class ApiErrorEnvelopeMiddleware:
    """Non-JSON error responses under /api/ (unknown path, wrong method, CSRF page, an error page
    from outside the API's own handlers) become the API's JSON envelope, so a client never has to
    parse HTML."""

    CODES = {
        400: "BAD_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        413: "PAYLOAD_TOO_LARGE",
        429: "RATE_LIMITED",
        500: "INTERNAL_ERROR",
        503: "UNAVAILABLE",
    }
    # Headers of the original response that still mean something on the JSON one.
    KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        except Exception:
            # Only reached when producing the error response itself failed (a broken error
            # handler or template): an API client still gets JSON, never the server's HTML 500.
            if not request.path.startswith("/api/"):
                raise
            logger.exception("Error response failed on %s %s", request.method, request.path)
            return JsonResponse(
                {"detail": "Internal error; it has been logged.", "error_code": "INTERNAL_ERROR"}, status=500
            )
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            detail = {
                404: "Not found.",
                405: f"Method {request.method} not allowed here.",
                500: "Internal error; it has been logged.",
            }.get(status, response.reason_phrase)
            wrapped = JsonResponse({"detail": detail, "error_code": self.CODES.get(status, "ERROR")}, status=status)
            for header in self.KEPT_HEADERS:
                if header in response:
                    wrapped[header] = response[header]
            return wrapped
        return response
