"""The connector interface: what every platform module provides, the record it yields, and the
errors it raises (platform details never leave the platform's own module)."""

from __future__ import annotations

import datetime as dt
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

import httpx
from django.conf import settings

from integrations.http import RetryPolicy, request_with_retry

if TYPE_CHECKING:
    from integrations.environment import EnvironmentConnection
    from integrations.models import Connection

    AnyConnection = Connection | EnvironmentConnection

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


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a set of credentials belongs to on the platform (what a connection shows)."""

    account_id: str
    account_name: str = ""
    account_email: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_DEFAULT: Any = object()


class HttpConnector(ABC):
    """What every platform client shares: live or demo mode (demo without credentials, against
    `simulator()`), one httpx client, and calls through the shared retry policy. Subclasses set
    `key`, `label`, `platform`, say in `configured_with()` whether a connection is enough to go
    live, read their settings in `configured_base_url()` and say what a response means in
    `classify()`.

    Credentials come from a connection (integrations.models.Connection, or the read-only
    environment one): the one passed in, else the platform's default connection. The token is
    fetched through integrations.tokens (refreshed before it expires) and, on a 401, refreshed
    once and the call repeated. Error messages are scrubbed of the connection's secrets."""

    key: ClassVar[str]
    label: ClassVar[str]
    # The Connection platform whose credentials this connector uses.
    platform: ClassVar[str] = ""
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
        connection: AnyConnection | None = _DEFAULT,
    ) -> None:
        if connection is _DEFAULT:
            connection = None if demo is True else self.default_connection()
        self.connection: AnyConnection | None = connection
        self._current_token: str | None = None
        self.demo = (not self.configured_with(connection)) if demo is None else demo
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
    def default_connection(cls) -> AnyConnection | None:
        """The platform's default connection (its only one, or the environment one), or None."""
        if not cls.platform:
            return None
        from integrations.connection_selectors import connection_default

        return connection_default(platform=cls.platform)

    @classmethod
    def configured_with(cls, connection: AnyConnection | None) -> bool:
        """True when `connection` is enough to run live (some connectors also need a target
        setting, e.g. an ad account); False means demo mode."""
        return connection is not None

    @classmethod
    def is_configured(cls) -> bool:
        """True when the default connection makes this connector live; False means demo mode."""
        return cls.configured_with(cls.default_connection())

    def environment_token(self) -> str:
        """The token of an environment connection (a connector may read its own variable)."""
        return self.connection.access_token if self.connection is not None else ""

    def token(self) -> str:
        """The access token to present now ("demo-token" in demo mode). Raises ConnectorError
        (integrations.tokens.ReconnectNeeded when the connection needs a person)."""
        if self.demo or self.connection is None:
            return "demo-token"
        if self._current_token is None:
            self._current_token = self._fetch_token(stale=None)
        return self._current_token

    def _fetch_token(self, *, stale: str | None, refused_because: str = "") -> str:
        from integrations.credentials import CredentialsUnreadable
        from integrations.tokens import access_token_for

        connection = self.connection
        assert connection is not None
        if connection.is_environment and connection.auth != "service_account":
            if stale is not None:
                raise AuthError(f"{self.label} refused the token from the environment variables.")
            return self.environment_token()
        try:
            return access_token_for(
                connection, stale_token=stale, scopes=self.token_scopes(), refused_because=refused_because
            )
        except ConnectorError as exc:
            raise self._scrubbed(exc) from None
        except CredentialsUnreadable as exc:
            # A secret no configured key decrypts: only new credentials (or the old key) help,
            # like a refused token; its message names no secret.
            raise AuthError(str(exc)) from None

    def whoami(self) -> Identity:
        """The account the connection's credentials belong to, asked of the platform. Raises
        ConnectorError (AuthError when the platform refuses them)."""
        raise ConnectorError(f"{self.label} cannot check credentials on their own.")

    def token_scopes(self) -> tuple[str, ...]:
        """Scopes asked for a Google service-account token."""
        from integrations.tokens import GOOGLE_SCOPES

        return GOOGLE_SCOPES

    def _can_refresh(self) -> bool:
        connection = self.connection
        if self.demo or connection is None or self._current_token is None:
            return False
        if not connection.is_environment and connection.pk is None:
            return False  # being verified before it is saved: nothing to refresh or mark
        # Environment tokens cannot be refreshed here; a stored connection refreshes (OAuth) or
        # is marked for reconnecting (a token the platform no longer accepts).
        return connection.auth == "service_account" or not connection.is_environment

    def _scrubbed(self, exc: ConnectorError) -> ConnectorError:
        """`exc` with every secret of the connection (and the token in use) cut out of it."""
        from integrations.credentials import redact, secret_values

        secrets: list[str] = [self._current_token or ""]
        if self.connection is not None:
            try:
                secrets += secret_values(self.connection.secrets)
            except Exception:  # noqa: BLE001, S110  (an unreadable secret cannot leak either)
                pass
        if exc.args:
            exc.args = (redact(str(exc.args[0]), secrets), *exc.args[1:])
        return exc

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
        ConnectorError (AuthError, RateLimitError after the retries, …). On a 401 the token is
        refreshed once and the call repeated with the new token (wherever the old one was in
        the headers or parameters)."""
        try:
            return self._send_with_retry(method, url, **kwargs)
        except AuthError as exc:
            if not self._can_refresh():
                raise self._scrubbed(exc) from None
            stale = self._current_token
            assert stale is not None
            self._current_token = self._fetch_token(stale=stale, refused_because=str(self._scrubbed(exc)))
            kwargs = _swap_token(kwargs, stale, self._current_token)
        try:
            return self._send_with_retry(method, url, **kwargs)
        except ConnectorError as exc:
            raise self._scrubbed(exc) from None

    def _send_with_retry(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._send_once(method, url, **kwargs)
        except AuthError:
            raise
        except ConnectorError as exc:
            raise self._scrubbed(exc) from None

    def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
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


def _swap_token(kwargs: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The request arguments with the refused token replaced by the new one."""

    def swap(values: Any) -> Any:
        if isinstance(values, dict):
            return {k: v.replace(old, new) if isinstance(v, str) else v for k, v in values.items()}
        return values

    return {**kwargs, **{name: swap(kwargs[name]) for name in ("headers", "params", "data") if name in kwargs}}


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
