"""Shared fixtures: users, API keys, API clients, a simulated clock, and a database-agnostic marker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from accounts.actor import Actor
from accounts.services import api_key_create


@pytest.fixture(scope="session", autouse=True)
def _plain_static_storage() -> Iterator[None]:
    # Tests render templates without running collectstatic first.
    with override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ):
        yield


@pytest.fixture(scope="session", autouse=True)
def _plain_http() -> Iterator[None]:
    # With DEBUG off the settings assume HTTPS behind a proxy (redirect, Secure cookies, HSTS);
    # the test client and the browser tests' live server speak plain HTTP, like scripts/run.sh.
    # tests/test_security.py checks the production defaults themselves (in a subprocess with
    # only the production variables) and turns these back on where it tests their effect.
    with override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        SECURE_HSTS_SECONDS=0,
    ):
        yield


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    # Real hashers cost ~1 s per user; hashing strength is not what these tests are about.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# A fixed Fernet key for tests (connection secrets are encrypted at rest; DEBUG is off in tests).
TEST_CREDENTIALS_KEY = "dGVzdC1jcmVkZW50aWFscy1rZXktMzItYnl0ZXMhISE="


@pytest.fixture(autouse=True)
def _credentials_key(settings: Any) -> None:
    settings.CREDENTIALS_KEYS = [TEST_CREDENTIALS_KEY]


@pytest.fixture(autouse=True)
def _skip_postgres_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres_only") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    from django.core.cache import cache

    yield
    try:
        cache.clear()
    except Exception:  # noqa: BLE001  (the cache table may be gone with a transactional test db)
        pass


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="alice", email="alice@example.com", password="pw-alice-123!")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="bob", email="bob@example.com", password="pw-bob-123!")


@pytest.fixture
def staff_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(
        username="sam", email="sam@example.com", password="pw-sam-123!", is_staff=True, is_superuser=True
    )


@pytest.fixture
def api_key(user: Any) -> str:
    _, raw = api_key_create(user=user, name="tests", actor=Actor.system_job("tests"))
    return raw


class ApiClient:
    """Django's test client speaking JSON with an X-API-Key header."""

    def __init__(self, key: str | None) -> None:
        self.client = Client()
        self.headers = {"HTTP_X_API_KEY": key} if key else {}

    def _call(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        kwargs: dict[str, Any] = {**self.headers, **extra}
        if data is not None and method in ("post", "put", "patch"):
            kwargs["content_type"] = "application/json"
            kwargs["data"] = data
        elif data is not None:
            kwargs["data"] = data
        return getattr(self.client, method)(path, **kwargs)

    def get(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("get", path, data, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("post", path, data if data is not None else {}, **extra)

    def put(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("put", path, data, **extra)

    def patch(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("patch", path, data, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self._call("delete", path, None, **extra)


@pytest.fixture
def api(api_key: str) -> ApiClient:
    return ApiClient(api_key)


@pytest.fixture
def anon_api() -> ApiClient:
    return ApiClient(None)


@pytest.fixture
def web(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def staff_web(client: Client, staff_user: Any) -> Client:
    client.force_login(staff_user)
    return client


@pytest.fixture
def actor(user: Any) -> Actor:
    return Actor(origin="web", user=user)


class SimClock:
    """A simulated clock: while the `clock` fixture is active every `timezone.now()` reads
    `current` (run rows, the circuit breaker, notifications), so minutes pass without sleeping."""

    def __init__(self, start: dt.datetime) -> None:
        self.current = start

    def __call__(self) -> dt.datetime:
        return self.current


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimClock:
    sim = SimClock(timezone.now().replace(second=0, microsecond=0))
    monkeypatch.setattr(timezone, "now", sim)
    return sim
