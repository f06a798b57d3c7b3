"""API rate limits: per key and per session user, in the database or in Redis, atomic under load."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connections
from django.test import Client
from django.test.utils import override_settings

from accounts import ratelimit
from accounts.actor import Actor
from accounts.models import RateLimitCounter
from accounts.ratelimit import RateLimit, rate_limit_check
from accounts.services import api_key_create
from conftest import ApiClient

TASKS = "/api/v1/tasks"
REDIS_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/15",
        "KEY_PREFIX": "tracker-tests",
    }
}


class Clock:
    """The rate limiter's clock, pinned. Windows are aligned to the clock, so a test on the real
    one could roll over a window between two requests on a slow machine; this one moves only
    when a test moves it."""

    def __init__(self) -> None:
        self.now = (time.time() // 3600) * 3600 + 1800.25  # inside every window that divides an hour

    def time(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock()
    monkeypatch.setattr(ratelimit, "time", pinned)
    return pinned


def assert_limited(response: Any, window: int = 60) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error_code"] == "RATE_LIMITED"
    assert 1 <= int(response["Retry-After"]) <= window


@pytest.fixture
def three_per_minute(settings: Any) -> None:
    settings.API_RATE_LIMIT = "3/60"


@pytest.fixture
def redis_cache() -> Iterator[None]:
    with override_settings(CACHES=REDIS_CACHES):
        caches["default"].clear()
        yield
        caches["default"].clear()


def test_rule_parsing() -> None:
    assert RateLimit.parse("600/60") == RateLimit(limit=600, window=60)
    assert RateLimit.parse("5") == RateLimit(limit=5, window=60)
    assert RateLimit.parse("") == RateLimit(limit=0, window=60)
    assert rate_limit_check("anyone", rule="0/60") is None


@pytest.mark.django_db
def test_fourth_request_is_429_with_retry_after(api: ApiClient, three_per_minute: None) -> None:
    for _ in range(3):
        assert api.get(TASKS).status_code == 200
    assert_limited(api.get(TASKS))
    assert_limited(api.post(TASKS, {"title": "blocked"}))
    # Counted in the database table (no Redis configured): one row per key, not per request.
    assert RateLimitCounter.objects.count() == 1
    assert RateLimitCounter.objects.get().count == 5


@pytest.mark.django_db
def test_limit_is_per_key(api: ApiClient, user: Any, other_user: Any, three_per_minute: None) -> None:
    for _ in range(3):
        api.get(TASKS)
    assert_limited(api.get(TASKS))

    _, second_key = api_key_create(user=user, name="second", actor=Actor.system_job("tests"))
    _, bobs_key = api_key_create(user=other_user, name="bob", actor=Actor.system_job("tests"))
    assert ApiClient(second_key).get(TASKS).status_code == 200
    assert ApiClient(bobs_key).get(TASKS).status_code == 200


@pytest.mark.django_db
def test_limit_is_per_session_user(web: Client, other_user: Any, three_per_minute: None) -> None:
    for _ in range(3):
        assert web.get(TASKS).status_code == 200
    assert_limited(web.get(TASKS))

    bob = Client()
    bob.force_login(other_user)
    assert bob.get(TASKS).status_code == 200


@pytest.mark.django_db
def test_a_new_window_starts_a_new_count(api: ApiClient, settings: Any, clock: Clock) -> None:
    settings.API_RATE_LIMIT = "2/2"
    assert api.get(TASKS).status_code == 200
    assert api.get(TASKS).status_code == 200
    assert_limited(api.get(TASKS), window=2)
    clock.now += 2
    assert api.get(TASKS).status_code == 200
    assert RateLimitCounter.objects.count() == 1


@pytest.mark.django_db
def test_limit_can_be_switched_off(api: ApiClient, settings: Any) -> None:
    settings.API_RATE_LIMIT = "0/60"
    for _ in range(5):
        assert api.get(TASKS).status_code == 200
    assert not RateLimitCounter.objects.exists()


@pytest.mark.django_db
def test_redis_counter(api: ApiClient, api_key: str, three_per_minute: None, redis_cache: None) -> None:
    for _ in range(3):
        assert api.get(TASKS).status_code == 200
    assert_limited(api.get(TASKS))

    # Counted in Redis, not in the database.
    assert not RateLimitCounter.objects.exists()
    cache = caches["default"]
    client = cache._cache.get_client(None)
    keys = client.keys("tracker-tests:*rl:key:*")
    assert len(keys) == 1
    assert int(client.get(keys[0])) == 4
    assert 0 < client.ttl(keys[0]) <= 61


@pytest.mark.django_db
def test_redis_counter_per_session_user(
    web: Client, other_user: Any, three_per_minute: None, redis_cache: None
) -> None:
    for _ in range(3):
        assert web.get(TASKS).status_code == 200
    assert_limited(web.get(TASKS))
    bob = Client()
    bob.force_login(other_user)
    assert bob.get(TASKS).status_code == 200


def _hammer(identity: str, rule: str, workers: int, calls: int) -> list[int | None]:
    results: list[int | None] = []
    lock = threading.Lock()
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            for _ in range(calls):
                outcome = rate_limit_check(identity, rule=rule)
                with lock:
                    results.append(outcome)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_database_counter_is_atomic_across_connections() -> None:
    results = _hammer("key:concurrent", "50/3600", workers=8, calls=25)

    assert len(results) == 200
    assert sum(1 for r in results if r is None) == 50
    assert RateLimitCounter.objects.get(bucket="rl:key:concurrent").count == 200


def test_redis_counter_is_atomic_across_connections(redis_cache: None) -> None:
    results = _hammer("key:concurrent", "50/3600", workers=8, calls=25)

    assert len(results) == 200
    assert sum(1 for r in results if r is None) == 50
    assert all(r is None or 1 <= r <= 3600 for r in results)


def _count_allowed_in_child(identity: str, rule: str, calls: int, queue: Any) -> None:
    queue.put(sum(1 for _ in range(calls) if rate_limit_check(identity, rule=rule) is None))


def test_redis_counter_is_atomic_across_processes(redis_cache: None) -> None:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=_count_allowed_in_child, args=("key:processes", "40/3600", 30, queue)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    allowed = [queue.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    assert sum(allowed) == 40
    assert rate_limit_check("key:processes", rule="40/3600") is not None
