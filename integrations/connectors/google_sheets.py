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

The simulator at the end of this module answers the same four calls in the API's JSON shapes;
demo mode plugs it into gspread's requests session, and the tests serve it over HTTP.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import requests
import requests.adapters
from django.conf import settings
from gspread import Client
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from gspread.urls import SPREADSHEETS_API_V4_BASE_URL

from integrations.connectors.base import AuthError, ConnectorError, RateLimitError, storable
from integrations.http import RetryPolicy, backoff_delay, parse_retry_after

GOOGLE_BASE_URL = "https://sheets.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/spreadsheets"
DEFAULT_WORKSHEET = "Leads"
DEMO_SPREADSHEET_ID = "demo-leads-sheet"
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
_V4_PREFIX = SPREADSHEETS_API_V4_BASE_URL[len(GOOGLE_BASE_URL) :]  # "/v4/spreadsheets"


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


Sleep = Callable[[float], None]


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
                return super().request(method, endpoint, *args, **kwargs)
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
        rows = [[_cell_text(v) for v in row] if isinstance(row, list) else [] for row in raw_rows]
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


def _cell_text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return storable(value) if value is not None else ""


# --- the simulator: the four calls, stateful, in the API's JSON ----------------------------------
DEMO_LEADS = [
    ("Ada Lovelace", "ada@analytical.example", "NEW", "Website"),
    ("Grace Hopper", "grace@cobol.example", "CONTACTED", "Conference"),
    ("Alan Turing", "alan@bletchley.example", "QUALIFIED", "Referral"),
    ("Katherine Johnson", "katherine@nasa.example", "NEW", "Webinar"),
    ("Edsger Dijkstra", "edsger@tue.example", "LOST", "Cold outreach"),
    ("Barbara Liskov", "barbara@mit.example", "CONTACTED", "Website"),
    ("Donald Knuth", "don@stanford.example", "NEW", "Referral"),
    ("Margaret Hamilton", "margaret@apollo.example", "QUALIFIED", "Conference"),
    ("Linus Torvalds", "linus@kernel.example", "NEW", "Website"),
    ("Radia Perlman", "radia@spanning.example", "CONTACTED", "Webinar"),
    ("Ken Thompson", "ken@bell.example", "NEW", "Cold outreach"),
    ("Frances Allen", "fran@ibm.example", "QUALIFIED", "Referral"),
    ("John McCarthy", "john@lisp.example", "LOST", "Website"),
    ("Shafi Goldwasser", "shafi@crypto.example", "NEW", "Conference"),
    ("Tim Berners-Lee", "tim@w3.example", "CONTACTED", "Website"),
    ("Hedy Lamarr", "hedy@spread.example", "NEW", "Referral"),
    ("Dennis Ritchie", "dmr@bell.example", "QUALIFIED", "Webinar"),
    ("Sophie Wilson", "sophie@arm.example", "NEW", "Conference"),
    ("Vint Cerf", "vint@tcp.example", "CONTACTED", "Cold outreach"),
    ("Annie Easley", "annie@glenn.example", "NEW", "Website"),
]
DEMO_HEADER = ["id", "name", "email", "status", "source", "task_id"]


def demo_rows() -> list[list[str]]:
    return [DEMO_HEADER] + [[f"lead-{n}", *lead, ""] for n, lead in enumerate(DEMO_LEADS, start=1)]


def _a1_box(sheet: str, row: int, col: int, rows: int, cols: int) -> str:
    return f"{quote_title(sheet)}!{col_letter(col)}{row}:{col_letter(col + cols - 1)}{row + rows - 1}"


def _api_error(code: int, message: str, status: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    return code, {}, {"error": {"code": code, "message": message, "status": status}}


@dataclass
class SheetsSimulator:
    """A spreadsheet held in memory that answers the Sheets v4 calls this product makes.

    `fail` queues canned failures: (method, path fragment, status, body, headers), each used
    once by the first request that matches. `log` lists (method, path) of every request.
    `on_change` is called with the simulator after every write (demo persistence)."""

    spreadsheet_id: str = DEMO_SPREADSHEET_ID
    title: str = "Leads"
    sheets: dict[str, list[list[str]]] = field(default_factory=dict)
    fail: list[tuple[str, str, int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    require_auth: bool = True
    on_change: Callable[[SheetsSimulator], None] | None = None

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        if not self.sheets:
            self.sheets = {"Leads": []}

    @property
    def worksheets(self) -> list[str]:
        return list(self.sheets)

    # --- state helpers ---------------------------------------------------------------------
    def rows(self, worksheet: str = "Leads") -> list[list[str]]:
        return self.sheets[worksheet]

    def set_cell(self, worksheet: str, row: int, col: int, value: str) -> None:
        rows = self.sheets[worksheet]
        while len(rows) < row:
            rows.append([])
        line = rows[row - 1]
        while len(line) <= col:
            line.append("")
        line[col] = value

    def _trimmed(self, rows: list[list[str]]) -> list[list[str]]:
        out = []
        for row in rows:
            row = list(row)
            while row and row[-1] == "":
                row.pop()
            out.append(row)
        while out and not out[-1]:
            out.pop()
        return out

    def _sheet_of(self, title: str | None) -> str | None:
        if title is None:
            return next(iter(self.sheets))
        return title if title in self.sheets else None

    # --- HTTP ------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, headers, JSON body) for one request to `path` (percent-decoded)."""
        with self.lock:
            self.log.append((method.upper(), path))
            for index, (f_method, fragment, status, f_body, f_headers) in enumerate(self.fail):
                if f_method.upper() == method.upper() and fragment in path:
                    del self.fail[index]
                    return status, f_headers, f_body
            auth = headers.get("Authorization") or headers.get("authorization") or ""
            if self.require_auth and not auth.startswith("Bearer "):
                return _api_error(401, "Request is missing required authentication credential.", "UNAUTHENTICATED")
            if not path.startswith(_V4_PREFIX + "/"):
                return _api_error(404, "Not found.", "NOT_FOUND")
            rest = path[len(_V4_PREFIX) + 1 :]
            sid, sep, tail = rest.partition("/")
            if sid.endswith(":batchUpdate"):
                return _api_error(400, "Structural batchUpdate is not simulated.", "INVALID_ARGUMENT")
            if sid != self.spreadsheet_id:
                return _api_error(404, "Requested entity was not found.", "NOT_FOUND")
            try:
                payload = json.loads(body) if body else {}
            except ValueError:
                return _api_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
            if not sep and method.upper() == "GET":
                return 200, {}, self._metadata()
            if tail == "values:batchUpdate" and method.upper() == "POST":
                return self._batch_update(payload)
            if tail.startswith("values/"):
                target = tail[len("values/") :]
                if target.endswith(":append") and method.upper() == "POST":
                    return self._append(target[: -len(":append")], payload)
                if method.upper() == "GET":
                    return self._get(target)
            return _api_error(404, "Not found.", "NOT_FOUND")

    def _metadata(self) -> dict[str, Any]:
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {"title": self.title, "locale": "en_US", "timeZone": "Etc/GMT", "autoRecalc": "ON_CHANGE"},
            "sheets": [
                {
                    "properties": {
                        "sheetId": index,
                        "title": title,
                        "index": index,
                        "sheetType": "GRID",
                        "gridProperties": {
                            "rowCount": max(1000, len(rows)),
                            "columnCount": max(26, max((len(r) for r in rows), default=0)),
                        },
                    }
                }
                for index, (title, rows) in enumerate(self.sheets.items())
            ],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        }

    def _get(self, target: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        try:
            title, r1, c1, r2, c2 = parse_a1(target)
        except ValueError:
            return _api_error(400, f"Unable to parse range: {target}", "INVALID_ARGUMENT")
        sheet = self._sheet_of(title)
        if sheet is None:
            return _api_error(400, f"Unable to parse range: {target}", "INVALID_ARGUMENT")
        rows = self.sheets[sheet]
        last_row = r2 if r2 is not None else max(1000, len(rows))
        window = [row[c1 : (c2 + 1) if c2 is not None else None] for row in rows[r1 - 1 : last_row]]
        values = self._trimmed(window)
        end_col = c2 if c2 is not None else max(25, max((len(r) for r in rows), default=1) - 1)
        out: dict[str, Any] = {
            "range": f"{quote_title(sheet)}!{col_letter(c1)}{r1}:{col_letter(end_col)}{last_row}",
            "majorDimension": "ROWS",
        }
        if values:
            out["values"] = values
        return 200, {}, out

    def _batch_update(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if payload.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
            return _api_error(400, "Invalid valueInputOption.", "INVALID_ARGUMENT")
        responses = []
        planned = []
        for item in payload.get("data") or []:
            try:
                title, r1, c1, _, _ = parse_a1(str(item.get("range", "")))
            except ValueError:
                return _api_error(400, f"Unable to parse range: {item.get('range')}", "INVALID_ARGUMENT")
            sheet = self._sheet_of(title)
            if sheet is None:
                return _api_error(400, f"Unable to parse range: {item.get('range')}", "INVALID_ARGUMENT")
            planned.append((sheet, r1, c1, item.get("values") or []))
        total = 0
        for sheet, r1, c1, values in planned:
            cells = 0
            for dr, row in enumerate(values):
                for dc, value in enumerate(row):
                    self.set_cell(sheet, r1 + dr, c1 + dc, _cell_text(value))
                    cells += 1
            total += cells
            width = max((len(r) for r in values), default=1)
            responses.append(
                {
                    "spreadsheetId": self.spreadsheet_id,
                    "updatedRange": _a1_box(sheet, r1, c1, len(values), width),
                    "updatedRows": len(values),
                    "updatedColumns": width,
                    "updatedCells": cells,
                }
            )
        if self.on_change is not None and planned:
            self.on_change(self)
        return (
            200,
            {},
            {
                "spreadsheetId": self.spreadsheet_id,
                "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                "totalUpdatedColumns": max((r["updatedColumns"] for r in responses), default=0),
                "totalUpdatedCells": total,
                "totalUpdatedSheets": len({p[0] for p in planned}),
                "responses": responses,
            },
        )

    def _append(self, target: str, payload: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        try:
            title, _, c1, _, _ = parse_a1(target)
        except ValueError:
            return _api_error(400, f"Unable to parse range: {target}", "INVALID_ARGUMENT")
        sheet = self._sheet_of(title)
        if sheet is None:
            return _api_error(400, f"Unable to parse range: {target}", "INVALID_ARGUMENT")
        rows = self.sheets[sheet]
        table_end = len(self._trimmed(rows))  # rows after the last non-empty one are free
        del rows[table_end:]
        values = payload.get("values") or []
        start = table_end + 1
        for offset, row in enumerate(values):
            for dc, value in enumerate(row):
                self.set_cell(sheet, start + offset, c1 + dc, _cell_text(value))
        width = max((len(r) for r in values), default=1)
        if self.on_change is not None and values:
            self.on_change(self)
        name = quote_title(sheet)
        return (
            200,
            {},
            {
                "spreadsheetId": self.spreadsheet_id,
                "tableRange": f"{name}!A1:{col_letter(max(width - 1, 0))}{max(table_end, 1)}",
                "updates": {
                    "spreadsheetId": self.spreadsheet_id,
                    "updatedRange": _a1_box(sheet, start, c1, len(values), width),
                    "updatedRows": len(values),
                    "updatedColumns": width,
                    "updatedCells": sum(len(r) for r in values),
                },
            },
        )


class SimulatorAdapter(requests.adapters.BaseAdapter):
    """A requests transport adapter answering from a SheetsSimulator (no network)."""

    def __init__(self, simulator: SheetsSimulator) -> None:
        super().__init__()
        self.simulator = simulator

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        status, headers, payload = self.simulator.handle(
            request.method or "GET", unquote(parts.path), parse_qs(parts.query), body, dict(request.headers)
        )
        response = requests.Response()
        response.status_code = status
        response.headers.update({"Content-Type": "application/json; charset=UTF-8", **headers})
        response._content = json.dumps(payload).encode()
        response.url = request.url or ""
        response.request = request
        response.reason = "OK" if status < 400 else "Error"
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


# --- demo mode: one simulated sheet, kept in the database so every process sees the same one -----
DEMO_STATE_SCOPE = "demo-sheet"


def demo_simulator() -> SheetsSimulator:
    """The demo sheet (20 leads on first use), loaded from and saved to the database."""
    from integrations.models import ConnectorState

    state = ConnectorState.objects.filter(connector=GoogleSheetsConnector.key, scope=DEMO_STATE_SCOPE).first()
    rows = (state.details or {}).get("rows") if state is not None else None
    if not isinstance(rows, list):
        rows = demo_rows()
    return SheetsSimulator(
        spreadsheet_id=DEMO_SPREADSHEET_ID,
        title="Leads (demo)",
        sheets={DEFAULT_WORKSHEET: [[str(v) for v in row] for row in rows]},
        on_change=_save_demo,
    )


def _save_demo(simulator: SheetsSimulator) -> None:
    from integrations.models import ConnectorState

    ConnectorState.objects.update_or_create(
        connector=GoogleSheetsConnector.key,
        scope=DEMO_STATE_SCOPE,
        defaults={"details": {"rows": simulator.rows(DEFAULT_WORKSHEET)}},
    )
