"""Every dashboard page needs a signed-in user; the API answers 401 itself; a few paths are open."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse

# The API does its own auth (API key or session) and answers in JSON; allauth's pages handle
# their own access (login, password reset, signup); the admin has its own staff check.
OPEN_PREFIXES = ("/api/", "/accounts/", "/admin/", "/health", "/static/", "/favicon.ico")
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
        response = self.get_response(request)
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
