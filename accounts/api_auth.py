"""django-ninja authentication: X-API-Key header, or the session cookie with CSRF enforced."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, APIKeyHeader
from ninja.utils import check_csrf

from accounts.ratelimit import rate_limit_check
from accounts.selectors import staff_mfa_missing
from accounts.services import api_key_authenticate_and_count


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Rate limit exceeded; retry in {retry_after} s.")


class CsrfFailed(Exception):
    pass


class MfaRequired(Exception):
    """A staff session without a second factor while MFA_REQUIRED_FOR_STAFF is on (403 MFA_REQUIRED)."""


def _throttle(identity: str) -> None:
    retry_after = rate_limit_check(identity)
    if retry_after is not None:
        raise RateLimited(retry_after)


class ApiKeyAuth(APIKeyHeader):
    """`X-API-Key: trk_…`: keys are looked up by their SHA-256 and compared in constant time."""

    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if not key:
            return None
        api_key, retry_after = api_key_authenticate_and_count(key)
        if api_key is None:
            return None
        request.api_key = api_key  # type: ignore[attr-defined]
        request.auth_user = api_key.user  # type: ignore[attr-defined]
        request.user = api_key.user
        if retry_after is not None:
            raise RateLimited(retry_after)
        return api_key.user


class SessionCsrfAuth(APIKeyCookie):
    """The dashboard's session cookie; unsafe methods must carry the CSRF token (X-CSRFToken)."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if not key:
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise CsrfFailed("CSRF check failed: send the csrftoken cookie's value in X-CSRFToken.")
        if staff_mfa_missing(user=user):
            raise MfaRequired(
                "Staff accounts must set up two-factor authentication (Settings → Account security) "
                "before using the API with a session; an API key keeps working."
            )
        request.auth_user = user  # type: ignore[attr-defined]
        _throttle(f"user:{user.pk}")
        return user


def staff_required(request: HttpRequest) -> bool:
    user = getattr(request, "auth_user", None)
    return bool(user is not None and user.is_staff)
