"""Google Sheets, through gspread 6: read one worksheet whole, write changed cells back in one
`values:batchUpdate`, add rows with one `values:append`.

Calls (Sheets API v4): `GET /v4/spreadsheets/ID?includeGridData=false` (metadata: does the tab
exist), `GET /v4/spreadsheets/ID/values/'Leads'`, `POST .../values:batchUpdate`,
`POST .../values/'Leads'!A1:append`. A run makes at most four requests, whatever the size.
Rate limits: 429 (and 403 rateLimitExceeded) back off and retry, honouring Retry-After.

Settings: GOOGLE_SHEET_ID (unset: demo mode, a simulated sheet), GOOGLE_SHEET_WORKSHEET
(default "Leads"), GOOGLE_SHEETS_BASE_URL (default https://sheets.googleapis.com; gspread's
URLs are rewritten onto it, so a sandbox or a local fake can stand in), and credentials from
GOOGLE_ACCESS_TOKEN or GOOGLE_SERVICE_ACCOUNT_FILE.

The simulator (google_sheets_sim) answers the same four calls in the API's JSON shapes; demo mode
plugs it into gspread's requests session, and the tests serve it over HTTP.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import requests
import requests.adapters
from django.conf import settings
from gspread import Client
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from gspread.urls import SPREADSHEETS_API_V4_BASE_URL

from integrations.connectors.base import AuthError, ConnectorError, RateLimitError, Sleep, storable
from integrations.http import RetryPolicy, backoff_delay, parse_retry_after

if TYPE_CHECKING:
    from integrations.connectors.google_sheets_sim import SheetsSimulator

GOOGLE_BASE_URL = "https://sheets.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/spreadsheets"
DEFAULT_WORKSHEET = "Leads"
DEMO_SPREADSHEET_ID = "demo-leads-sheet"
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
V4_PREFIX = SPREADSHEETS_API_V4_BASE_URL[len(GOOGLE_BASE_URL) :]  # "/v4/spreadsheets"


# --- A1 notation ---------------------------------------------------------------------------------
def col_letter(index: int) -> str:
    """0 → "A", 25 → "Z", 26 → "AA"."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def col_index(letters: str) -> int:
    """ "A" → 0, "AA" → 26."""
    value = 0
    for char in letters.upper():
        value = value * 26 + ord(char) - 64
    return value - 1


def quote_title(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")
_CELLS_ONLY = re.compile(r"^[A-Za-z]{1,3}\d+(:[A-Za-z]{0,3}\d*)?$|^[A-Za-z]{1,3}:[A-Za-z]{1,3}$")


def parse_a1(text: str) -> tuple[str | None, int, int, int | None, int | None]:
    """(sheet title or None, first row, first col, last row or None, last col or None); rows
    1-based, columns 0-based. Raises ValueError."""
    title: str | None = None
    cells = text
    if text.startswith("'"):
        end = 1
        while True:
            end = text.index("'", end)
            if end + 1 < len(text) and text[end + 1] == "'":
                end += 2
                continue
            break
        title = text[1:end].replace("''", "'")
        cells = text[end + 2 :] if text[end + 1 : end + 2] == "!" else text[end + 1 :]
    elif "!" in text:
        title, cells = text.split("!", 1)
    elif not _CELLS_ONLY.match(text):
        title, cells = text, ""
    if not cells:
        return title, 1, 0, None, None
    start, _, end = cells.partition(":")
    first, second = _CELL.match(start), _CELL.match(end or start)
    if first is None or second is None:
        raise ValueError(f"Unable to parse range: {text}")
    r1 = int(first.group(2)) if first.group(2) else 1
    c1 = col_index(first.group(1)) if first.group(1) else 0
    r2 = int(second.group(2)) if second.group(2) else None
    c2 = col_index(second.group(1)) if second.group(1) else None
    return title, r1, c1, r2, c2


# --- what the connector hands over ---------------------------------------------------------------
@dataclass
class SheetSnapshot:
    """One read of a worksheet: `rows[i]` is sheet row `first_row + i`, each a list of strings
    starting at column `first_col` (trailing empty cells trimmed, as the API sends them)."""

    spreadsheet_id: str
    worksheet: str
    rows: list[list[str]]
    first_row: int = 1
    first_col: int = 0


@dataclass(frozen=True)
class CellWrite:
    row: int  # 1-based sheet row
    col: int  # 0-based column
    value: str


@dataclass
class WriteResult:
    cells: int = 0
    appended: int = 0
    requests: int = 0


class _SheetsHTTPClient(HTTPClient):
    """gspread's HTTP client onto our base URL, with our bounded retry (gspread's own
    BackOffHTTPClient calls itself not production ready) and a count of every request."""

    def __init__(self, auth: Any, session: requests.Session | None, *, connector: GoogleSheetsConnector) -> None:
        super().__init__(auth, session)
        self.connector = connector
        if connector.adapter is not None:
            self.session.mount(GOOGLE_BASE_URL, connector.adapter)
            self.session.mount(connector.base_url, connector.adapter)

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> requests.Response:
        conn = self.connector
        if endpoint.startswith(GOOGLE_BASE_URL):
            endpoint = conn.base_url + endpoint[len(GOOGLE_BASE_URL) :]
        # An append that timed out may have landed: never resend it blind (the next run reads
        # the sheet first and appends only the rows still missing). Everything else is idempotent.
        idempotent = not endpoint.endswith(":append")
        attempt = 0
        while True:
            attempt += 1
            conn.requests_made += 1
            try:
                return _json_object(super().request(method, endpoint, *args, **kwargs))
            except APIError as exc:
                error = classify(exc.response)
            except requests.Timeout as exc:
                error = ConnectorError(f"Google Sheets timed out ({type(exc).__name__}).", retryable=idempotent)
            except requests.RequestException as exc:
                error = ConnectorError(f"Network error: {type(exc).__name__}: {exc}", retryable=idempotent)
            except Exception as exc:  # google-auth refresh failures and the like
                if type(exc).__name__ in ("RefreshError", "TransportError", "DefaultCredentialsError"):
                    raise AuthError(f"Google credentials refused: {exc}") from None
                raise
            if not idempotent and not isinstance(error, RateLimitError):
                error.retryable = False
            if not error.retryable or attempt >= conn.policy.max_attempts:
                if error.retryable:
                    error.args = (f"{error.args[0]} (gave up after {attempt} attempts)",)
                raise error
            delay = backoff_delay(attempt, retry_after=error.retry_after, policy=conn.policy)
            if delay is None:
                error.args = (f"{error.args[0]} (asked to wait {error.retry_after:.0f} s; will retry on the next run)",)
                raise error
            conn.sleep(delay)
            if conn.on_wait is not None:
                conn.on_wait()


def _json_object(response: requests.Response) -> requests.Response:
    """`response`, once its body is the JSON object every Sheets method answers with. Raises
    ConnectorError for a malformed body or other JSON (a list, a string, null), so that no
    caller reads a broken answer as an empty sheet."""
    try:
        body = response.json()
    except ValueError:
        raise ConnectorError(
            f"Google Sheets answered HTTP {response.status_code} with a body that is not JSON.",
            status_code=response.status_code,
        ) from None
    if not isinstance(body, dict):
        kind = "null" if body is None else type(body).__name__
        raise ConnectorError(
            f"Google Sheets answered with JSON that is not an object ({kind}).",
            status_code=response.status_code,
        )
    return response


def classify(response: requests.Response) -> ConnectorError:
    """The ConnectorError a failed Sheets response stands for."""
    status = response.status_code
    reasons: set[str] = set()
    message = ""
    try:
        error = response.json().get("error") or {}
        message = str(error.get("message", ""))[:300]
        reasons = {str(e.get("reason", "")) for e in error.get("errors") or [] if isinstance(e, dict)}
        reasons |= {str(d.get("reason", "")) for d in error.get("details") or [] if isinstance(d, dict)}
    except (ValueError, AttributeError):
        message = storable(response.text[:200])
    text = f"Google Sheets HTTP {status}: {message or response.reason or 'error'}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 401:
        return AuthError(text, status_code=status)
    if status == 429 or (status == 403 and reasons & RATE_LIMIT_REASONS):
        return RateLimitError(text, retry_after=retry_after, status_code=status)
    if status == 403:
        return AuthError(f"{text} (share the sheet with the service account)", status_code=status)
    if status >= 500:
        return ConnectorError(text, retryable=True, retry_after=retry_after, status_code=status)
    return ConnectorError(text, status_code=status)


class GoogleSheetsConnector:
    """The lead sheet. Not a task source like the other connectors: the leads sync reads the
    sheet with `read()` and writes back with `write()`."""

    key: ClassVar[str] = "google_sheets"
    label: ClassVar[str] = "Google Sheets"
    credential_settings: ClassVar[tuple[str, ...]] = (
        "GOOGLE_SHEET_ID",
        "GOOGLE_ACCESS_TOKEN",
        "GOOGLE_SERVICE_ACCOUNT_FILE",
    )
    supports_cursor: ClassVar[bool] = False

    def __init__(
        self,
        *,
        simulator: SheetsSimulator | None = None,
        sleep: Sleep = time.sleep,
        policy: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> None:
        self.demo = simulator is not None or not self.is_configured()
        if self.demo:
            self.spreadsheet_id = simulator.spreadsheet_id if simulator else DEMO_SPREADSHEET_ID
            self.worksheet = simulator.worksheets[0] if simulator else DEFAULT_WORKSHEET
            self.base_url = GOOGLE_BASE_URL
            from integrations.connectors.google_sheets_sim import SimulatorAdapter, demo_simulator

            self.adapter: requests.adapters.BaseAdapter | None = SimulatorAdapter(simulator or demo_simulator())
        else:
            self.spreadsheet_id = str(settings.GOOGLE_SHEET_ID).strip()
            self.worksheet = str(getattr(settings, "GOOGLE_SHEET_WORKSHEET", "") or DEFAULT_WORKSHEET)
            self.base_url = str(getattr(settings, "GOOGLE_SHEETS_BASE_URL", "") or GOOGLE_BASE_URL).rstrip("/")
            self.adapter = None
        self.sleep = sleep
        self.policy = policy or RetryPolicy.from_settings()
        self.timeout = timeout if timeout is not None else float(getattr(settings, "SYNC_HTTP_TIMEOUT", 30.0))
        self.on_wait: Callable[[], None] | None = None
        self.requests_made = 0
        self.details: dict[str, Any] = {}
        self._client: Client | None = None

    # --- configuration ---------------------------------------------------------------------
    @classmethod
    def is_configured(cls) -> bool:
        """True when a sheet is configured (live mode); otherwise the demo sheet is used."""
        return bool(str(getattr(settings, "GOOGLE_SHEET_ID", "") or "").strip())

    @property
    def scope(self) -> str:
        """The SyncRun scope of this sheet."""
        return f"sheet:{self.spreadsheet_id}"[:200]

    @classmethod
    def settings_scope(cls) -> str:
        """The SyncRun scope of the configured sheet (or of the demo sheet)."""
        sheet_id = str(getattr(settings, "GOOGLE_SHEET_ID", "") or "").strip() or DEMO_SPREADSHEET_ID
        return f"sheet:{sheet_id}"[:200]

    def _credentials(self) -> Any:
        from google.oauth2.credentials import Credentials

        if self.demo:
            return Credentials(token="demo-token")
        token = str(getattr(settings, "GOOGLE_ACCESS_TOKEN", "") or "")
        if token:
            return Credentials(token=token)
        path = str(getattr(settings, "GOOGLE_SERVICE_ACCOUNT_FILE", "") or "")
        if path:
            from google.oauth2 import service_account

            try:
                return service_account.Credentials.from_service_account_file(path, scopes=[SCOPE])
            except (OSError, ValueError, KeyError) as exc:
                raise AuthError(f"Cannot use GOOGLE_SERVICE_ACCOUNT_FILE: {type(exc).__name__}: {exc}") from None
        if self.base_url != GOOGLE_BASE_URL:
            # A sandbox or local fake of the API: no Google credentials to present.
            return Credentials(token="sandbox")
        raise AuthError("GOOGLE_SHEET_ID is set but neither GOOGLE_ACCESS_TOKEN nor GOOGLE_SERVICE_ACCOUNT_FILE is.")

    def client(self) -> Client:
        """The gspread client (built on first use). Raises AuthError for unusable credentials."""
        if self._client is None:
            self._client = Client(
                auth=self._credentials(),
                http_client=lambda auth, session: _SheetsHTTPClient(auth, session, connector=self),
            )
            self._client.set_timeout(self.timeout)
        return self._client

    # --- reading and writing ---------------------------------------------------------------
    def read(self) -> SheetSnapshot:
        """The whole worksheet in two requests (metadata, then values). Raises ConnectorError
        (AuthError, RateLimitError after the retries), or ConnectorError when the tab is missing."""
        http = self.client().http_client
        meta = http.fetch_sheet_metadata(
            self.spreadsheet_id,
            params={"includeGridData": "false", "fields": "spreadsheetId,properties.title,sheets.properties"},
        )
        titles = [str(s.get("properties", {}).get("title", "")) for s in meta.get("sheets") or []]
        title = next((t for t in titles if t == self.worksheet), None) or next(
            (t for t in titles if t.casefold() == self.worksheet.casefold()), None
        )
        if title is None:
            raise ConnectorError(
                f"The spreadsheet has no tab named {self.worksheet!r} (tabs: {', '.join(titles)[:200]})."
            )
        self.worksheet = title
        body = http.values_get(
            self.spreadsheet_id,
            quote_title(title),
            params={"majorDimension": "ROWS", "valueRenderOption": "FORMATTED_VALUE"},
        )
        first_row, first_col = 1, 0
        try:
            _, first_row, first_col, _, _ = parse_a1(str(body.get("range", "")))
        except ValueError:
            pass
        raw_rows = body.get("values") or []
        if not isinstance(raw_rows, list):
            raise ConnectorError("Google Sheets answered without a values list.")
        rows = [[cell_text(v) for v in row] if isinstance(row, list) else [] for row in raw_rows]
        self.details["spreadsheet_title"] = str(meta.get("properties", {}).get("title", ""))[:200]
        return SheetSnapshot(
            spreadsheet_id=self.spreadsheet_id, worksheet=title, rows=rows, first_row=first_row, first_col=first_col
        )

    def write(self, *, cells: list[CellWrite], appends: list[list[str]]) -> WriteResult:
        """Every cell in one values:batchUpdate and every new row in one values:append (RAW
        input, so text that looks like a formula stays text). Returns what was written.
        Raises ConnectorError; when the update fails, nothing was appended."""
        http = self.client().http_client
        result = WriteResult()
        before = self.requests_made
        title = quote_title(self.worksheet)
        if cells:
            data = [
                {"range": f"{title}!{col_letter(c.col)}{c.row}", "majorDimension": "ROWS", "values": [[c.value]]}
                for c in cells
            ]
            body = http.values_batch_update(
                self.spreadsheet_id, body={"valueInputOption": "RAW", "data": data, "includeValuesInResponse": False}
            )
            result.cells = int(body.get("totalUpdatedCells", len(cells)) or 0)
        if appends:
            http.values_append(
                self.spreadsheet_id,
                f"{title}!A1",
                params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
                body={"majorDimension": "ROWS", "values": appends},
            )
            result.appended = len(appends)
        result.requests = self.requests_made - before
        return result

    def close(self) -> None:
        if self._client is not None:
            self._client.http_client.session.close()

    def __enter__(self) -> GoogleSheetsConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cell_text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return storable(value) if value is not None else ""
