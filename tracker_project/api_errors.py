"""The API's one error envelope: {"detail": ..., "error_code": ...} for every failure."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import BaseModel

from accounts.api_auth import CsrfFailed, MfaRequired, RateLimited
from accounts.ratelimit import REDIS_UNAVAILABLE
from tracker_project.outages import RETRY_AFTER_SECONDS

logger = logging.getLogger(__name__)

STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "EXTERNAL_API_ERROR",
    503: "UNAVAILABLE",
    504: "EXTERNAL_API_TIMEOUT",
}


class ApiError(Exception):
    """Raise from an endpoint for a specific status and error code."""

    def __init__(self, status: int, detail: Any, error_code: str | None = None) -> None:
        self.status = status
        self.detail = detail
        self.error_code = error_code or STATUS_CODES.get(status, "ERROR")
        super().__init__(str(detail))


class BodyNotJson(ValueError):
    """The request body could not be parsed as JSON (raised by the API's parser)."""


def reject_unknown_query(
    request: HttpRequest, schema: type[BaseModel] | None = None, *, names: tuple[str, ...] = ()
) -> None:
    """django-ninja ignores query parameters it does not know; a typo (`?sponsor=1` for
    `?sponsor_id=1`) must not silently return unfiltered data, so every list endpoint refuses
    them (422, each unknown name in `loc`, the accepted ones in `msg`). `schema`: the
    endpoint's query schema, None when it takes no query parameters; `names`: plain query
    parameters declared on the endpoint itself."""
    known = [*(schema.model_fields if schema is not None else []), *names]
    unknown = sorted(set(request.GET) - set(known))
    if unknown:
        takes = f"this endpoint takes {', '.join(known)}." if known else "this endpoint takes no query parameters."
        raise ApiError(
            422, [{"loc": ["query", name], "msg": f"Unknown query parameter {name!r}; {takes}"} for name in unknown]
        )


def error_response(status: int, detail: Any, error_code: str | None = None, **headers: str) -> JsonResponse:
    response = JsonResponse(
        {"detail": detail, "error_code": error_code or STATUS_CODES.get(status, "ERROR")}, status=status
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


# django-ninja puts the view's parameter name after "body"/"query"; clients only need the field.
_PARAM_NAMES = {"payload", "params"}


def _loc(error: dict[str, Any]) -> list[Any]:
    loc = [str(part) if not isinstance(part, int) else part for part in error.get("loc", [])]
    if len(loc) > 1 and loc[1] in _PARAM_NAMES:
        del loc[1]
    return loc


def _msg(error: dict[str, Any]) -> str:
    return str(error.get("msg", "Invalid value.")).removeprefix("Value error, ")


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"loc": _loc(e), "msg": _msg(e)} for e in errors]


def django_validation_details(exc: DjangoValidationError) -> list[dict[str, Any]]:
    if hasattr(exc, "error_dict"):
        return [
            {"loc": ["body", field], "msg": " ".join(str(m) for m in messages)}
            for field, messages in exc.message_dict.items()
        ]
    return [{"loc": ["body"], "msg": " ".join(exc.messages)}]


def install_error_handlers(api: NinjaAPI) -> None:
    def on_validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return error_response(422, validation_details(exc.errors))

    def on_django_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        return error_response(422, django_validation_details(exc))

    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(exc.status, exc.detail, exc.error_code)

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, BodyNotJson):
            # A body that is not JSON is invalid input like any other: 422 with the usual detail list.
            return error_response(422, [{"loc": ["body"], "msg": str(exc.__cause__)}])
        return error_response(exc.status_code, str(exc.message) if hasattr(exc, "message") else str(exc))

    def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return error_response(413, "The request body is too large.")

    def on_suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
        return error_response(400, "Bad request.")

    def on_database_unavailable(request: HttpRequest, exc: OperationalError) -> HttpResponse:
        # Lost connection, deadlock victim, lock timeout: the request may succeed if retried.
        logger.warning("Database unavailable on %s %s: %s", request.method, request.path, exc)
        return error_response(503, "The database is unavailable; retry shortly.", Retry_After=RETRY_AFTER_SECONDS)

    def on_redis_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.warning("Redis unavailable on %s %s: %s", request.method, request.path, exc)
        return error_response(503, "A backing service is unavailable; retry shortly.", Retry_After=RETRY_AFTER_SECONDS)

    def on_auth(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(401, "Authentication required: send an X-API-Key header or sign in.")

    def on_forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(403, str(exc) or "You do not have permission to do this.")

    def on_mfa_required(request: HttpRequest, exc: MfaRequired) -> HttpResponse:
        return error_response(403, str(exc), "MFA_REQUIRED")

    def on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(404, "Not found.")

    def on_rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
        return error_response(429, str(exc), Retry_After=str(exc.retry_after))

    def on_integrity(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
        return error_response(409, "The change conflicts with existing data; reload and retry.")

    def on_data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
        return error_response(422, [{"loc": ["body"], "msg": "A value is out of range for storage."}])

    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("Unhandled API error on %s %s", request.method, request.path)
        return error_response(500, "Internal error; it has been logged.")

    api.add_exception_handler(NinjaValidationError, on_validation)
    api.add_exception_handler(DjangoValidationError, on_django_validation)
    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(AuthenticationError, on_auth)
    api.add_exception_handler(AuthorizationError, on_forbidden)
    api.add_exception_handler(PermissionDenied, on_forbidden)
    api.add_exception_handler(CsrfFailed, on_forbidden)
    api.add_exception_handler(MfaRequired, on_mfa_required)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(ObjectDoesNotExist, on_not_found)
    api.add_exception_handler(RateLimited, on_rate_limited)
    api.add_exception_handler(IntegrityError, on_integrity)
    api.add_exception_handler(DataError, on_data_error)
    api.add_exception_handler(OperationalError, on_database_unavailable)
    for redis_error in REDIS_UNAVAILABLE:
        api.add_exception_handler(redis_error, on_redis_unavailable)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(SuspiciousOperation, on_suspicious)
    api.add_exception_handler(Exception, on_unexpected)
