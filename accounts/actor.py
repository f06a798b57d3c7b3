"""Who did something, and from where: passed to every service that writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

    from accounts.models import ApiKey

ORIGIN_WEB = "web"
ORIGIN_API = "api"
ORIGIN_ADMIN = "admin"
ORIGIN_SYNC = "sync"
ORIGIN_SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """A user (maybe through an API key) or a named system job, plus the channel it came from."""

    origin: str
    user: AbstractBaseUser | None = None
    api_key: ApiKey | None = None
    system: str = ""
    ip: str | None = None

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"{self.user} (key {self.api_key.name})"
        if self.user is not None:
            return str(self.user)
        return self.system or "system"

    @classmethod
    def system_job(cls, name: str, *, origin: str = ORIGIN_SYSTEM) -> Actor:
        return cls(origin=origin, system=name)

    @classmethod
    def from_request(cls, request: HttpRequest, *, origin: str) -> Actor:
        api_key = getattr(request, "api_key", None)
        user = getattr(request, "auth_user", None) or getattr(request, "user", None)
        if user is not None and not user.is_authenticated:
            user = None
        return cls(origin=origin, user=user, api_key=api_key, ip=client_ip(request))


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR") or None
