"""The one retry loop every connector uses: bounded attempts, exponential backoff with jitter,
and the platform's Retry-After honoured. The sleep function is injectable so tests never wait."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from django.conf import settings
from django.utils import timezone

if TYPE_CHECKING:
    from integrations.connectors.base import ConnectorError


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` calls at most; waits grow base_delay·2ⁿ up to max_delay (with jitter).
    A Retry-After longer than `max_retry_after` is not waited for: the run stops and the next
    scheduled run tries again."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 300.0

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            max_attempts=max(1, int(getattr(settings, "SYNC_MAX_ATTEMPTS", cls.max_attempts))),
            base_delay=float(getattr(settings, "SYNC_BACKOFF_BASE", cls.base_delay)),
            max_delay=float(getattr(settings, "SYNC_BACKOFF_MAX", cls.max_delay)),
            max_retry_after=float(getattr(settings, "SYNC_MAX_RETRY_AFTER", cls.max_retry_after)),
        )


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date. None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def backoff_delay(
    attempt: int, *, retry_after: float | None, policy: RetryPolicy, rand: Callable[[], float] = random.random
) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when the platform's wait is too long.

    With Retry-After: that long plus up to a second of jitter (so clusters do not stampede).
    Without: "equal jitter" exponential backoff, between half and all of base·2^(attempt-1).
    """
    if retry_after is not None:
        if retry_after > policy.max_retry_after:
            return None
        return retry_after + rand() * min(1.0, policy.base_delay)
    cap = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    return cap / 2 + rand() * cap / 2


def request_with_retry(
    send: Callable[[], httpx.Response],
    *,
    classify: Callable[[httpx.Response], ConnectorError | None],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> httpx.Response:
    """Call `send` until `classify` finds no error, a non-retryable error comes, or the attempts
    run out. Returns the successful response; raises the last ConnectorError."""
    from integrations.connectors.base import ConnectorError

    attempt = 0
    while True:
        attempt += 1
        try:
            response = send()
        except httpx.TimeoutException as exc:
            error: ConnectorError = ConnectorError(f"Timed out ({type(exc).__name__}).", retryable=True)
        except httpx.TransportError as exc:
            error = ConnectorError(f"Network error: {type(exc).__name__}: {exc}", retryable=True)
        else:
            found = classify(response)
            if found is None:
                return response
            error = found
        if not error.retryable or attempt >= policy.max_attempts:
            if error.retryable:
                error.args = (f"{error.args[0]} (gave up after {attempt} attempts)",)
            raise error
        delay = backoff_delay(attempt, retry_after=error.retry_after, policy=policy, rand=rand)
        if delay is None:
            error.args = (f"{error.args[0]} (asked to wait {error.retry_after:.0f} s; will retry on the next run)",)
            raise error
        sleep(delay)
