"""The connector interface: what every platform module provides, the record it yields, and the
errors it raises (platform details never leave the platform's own module)."""

from __future__ import annotations

import datetime as dt
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import httpx
from django.conf import settings

from integrations.http import RetryPolicy, request_with_retry

TASK_STATUSES = ("todo", "in_progress", "done")
TASK_PRIORITIES = ("low", "medium", "high")
TITLE_MAX = 255
URL_MAX = 500


class ConnectorError(Exception):
    """A platform call failed. `retryable` says whether trying again later can help and
    `retry_after` (seconds) how long the platform asked us to wait."""

    retryable_default: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = self.retryable_default if retryable is None else retryable
        self.retry_after = retry_after
        self.status_code = status_code


class AuthError(ConnectorError):
    """The platform refused the credentials (401): stop at once, the connection needs new ones."""


class RateLimitError(ConnectorError):
    """The platform asked us to slow down (429, or its own rate-limit signal)."""

    retryable_default = True


class SyncTokenExpired(ConnectorError):
    """The incremental cursor is no longer valid (Google Calendar's 410): do a full pull."""


@dataclass(frozen=True, slots=True)
class ExternalTask:
    """One upstream record mapped onto the unified task's vocabulary.

    `priority` is None when the platform has no priority (the local value is then left alone).
    `assignee_email` is the lower-cased e-mail of the person the platform says is responsible
    (Salesforce's owner, Asana's assignee, the event's organizer), None when it names nobody.
    """

    external_id: str
    title: str
    status: str
    due_at: dt.datetime | None
    external_url: str = ""
    description: str = ""
    priority: str | None = None
    assignee_email: str | None = None


@dataclass(frozen=True, slots=True)
class RecordError:
    """A record that could not be mapped; it fails alone."""

    message: str
    external_id: str = ""
    raw: Any = None


@dataclass(slots=True)
class Page:
    """One page of a pull.

    `full`: the pull lists every record, so records it never lists were removed upstream.
    `removed_ids`: records the platform reported as deleted (incremental pulls).
    `next_cursor`: on the last page of a pull that supports it, the cursor for the next pull.
    """

    records: list[ExternalTask] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    removed_ids: list[str] = field(default_factory=list)
    full: bool = True
    next_cursor: str | None = None


Sleep = Callable[[float], None]


class HttpConnector(ABC):
    """What every platform client shares: live or demo mode (demo without credentials, against
    `simulator()`), one httpx client, and calls through the shared retry policy. Subclasses set
    `key`, `label`, read their settings in `is_configured()` / `configured_base_url()` and say
    what a response means in `classify()`."""

    key: ClassVar[str]
    label: ClassVar[str]
    # The setting names shown on the sync centre when the connector is in demo mode.
    credential_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
        policy: RetryPolicy | None = None,
        timeout: float | None = None,
        demo: bool | None = None,
    ) -> None:
        self.demo = (not self.is_configured()) if demo is None else demo
        self.base_url = self.demo_base_url() if self.demo else self.configured_base_url()
        if transport is None and self.demo:
            transport = self.simulator()
        self.sleep = sleep
        # Called after each backoff wait, so a long wait still shows the run is alive.
        self.on_wait: Callable[[], None] | None = None
        self.policy = policy or RetryPolicy.from_settings()
        self.requests_made = 0
        self.details: dict[str, Any] = {}
        self.client = httpx.Client(
            transport=transport,
            timeout=timeout if timeout is not None else getattr(settings, "SYNC_HTTP_TIMEOUT", 30.0),
            headers={"Accept": "application/json", "User-Agent": "Tracker-sync/1"},
            follow_redirects=False,
        )

    # --- configuration -------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def is_configured(cls) -> bool:
        """True when credentials are set (live mode); False means demo mode."""

    @abstractmethod
    def configured_base_url(self) -> str: ...

    @abstractmethod
    def demo_base_url(self) -> str: ...

    @abstractmethod
    def simulator(self) -> httpx.BaseTransport:
        """A transport answering like the platform, in its real JSON shapes (demo mode)."""

    @abstractmethod
    def classify(self, response: httpx.Response) -> ConnectorError | None:
        """The error a response stands for, or None when it is a success."""

    # --- calling -----------------------------------------------------------------------------
    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One call with the shared retry policy; returns a successful response or raises
        ConnectorError (AuthError, RateLimitError after the retries, …)."""

        def attempt() -> httpx.Response:
            self.requests_made += 1
            return self.client.request(method, url, **kwargs)

        def wait(seconds: float) -> None:
            self.sleep(seconds)
            if self.on_wait is not None:
                self.on_wait()

        return request_with_retry(attempt, classify=self.classify, policy=self.policy, sleep=wait)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Connector(HttpConnector):
    """A platform's task source: `pull()` yields pages of ExternalTask records."""

    supports_cursor: ClassVar[bool] = False

    @abstractmethod
    def auth_headers(self) -> dict[str, str]: ...

    @abstractmethod
    def pull(self, *, target: str, cursor: str | None = None) -> Iterator[Page]:
        """Yield the pages of `target`'s records (incremental from `cursor` where supported).

        Raises ConnectorError (AuthError, RateLimitError after the retries, SyncTokenExpired).
        """

    def get(self, url: str, *, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET with the shared retry policy; returns a successful response or raises."""
        return self.send("GET", url, params=params, headers=self.auth_headers())


def json_body(response: httpx.Response, *, platform: str) -> Any:
    """The response's JSON; a body that is not JSON is a (retryable) platform error."""
    try:
        return response.json()
    except ValueError:
        raise ConnectorError(
            f"{platform} answered HTTP {response.status_code} with a body that is not JSON.",
            retryable=True,
            status_code=response.status_code,
        ) from None


def storable(value: Any) -> str:
    """Text a database can store: no NUL characters, no lone surrogates (from JSON escapes)."""
    text = value if isinstance(value, str) else str(value or "")
    if text.isascii():
        return text.replace("\x00", "") if "\x00" in text else text
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def clean_title(value: Any, *, fallback: str) -> str:
    text = " ".join(storable(value).split())
    return (text or fallback)[:TITLE_MAX]


def clean_url(value: Any) -> str:
    text = storable(value)
    return text if text.startswith(("https://", "http://")) and len(text) <= URL_MAX and " " not in text else ""


def clean_text(value: Any, *, limit: int = 20_000) -> str:
    return storable(value)[:limit]


def clean_email(value: Any) -> str | None:
    """A plausible e-mail address, lower-cased (addresses are matched case-insensitively), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    local, at, domain = text.partition("@")
    if not (at and local and domain) or len(text) > 254 or storable(text) != text or any(c.isspace() for c in text):
        return None
    return text


def clean_id(value: Any) -> str | None:
    """A record id we can key on (a non-empty string up to 255 storable characters), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > 255 or storable(value) != value:
        return None
    return value


def parse_date(value: str) -> dt.datetime:
    """An all-day date ("2024-05-01") as midnight UTC. Raises ValueError."""
    day = dt.date.fromisoformat(value)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def parse_datetime(value: str) -> dt.datetime:
    """An ISO 8601 / RFC 3339 instant, as an aware UTC datetime. Raises ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Salesforce writes offsets as +0000.
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and text[-6] != ":":
        text = text[:-2] + ":" + text[-2:]
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed.astimezone(dt.UTC)
