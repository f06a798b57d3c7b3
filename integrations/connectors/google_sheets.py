"""Google Sheets, through gspread 6: read one worksheet whole with the developer metadata of its
rows, and write back by row tag, so a value reaches its lead's row wherever a person has moved it.

Each lead's row carries a row-level DeveloperMetadata (key `tracker_lead`, value the lead's id,
location a ROWS dimensionRange of that one row), which Sheets keeps on the row when the sheet is
sorted or rows are inserted or deleted, and deletes with the row. Calls (Sheets API v4), at most
three per run whatever the size:

1. `GET /v4/spreadsheets/ID?ranges='Leads'&fields=sheets(properties(...),data(rowData.values.
   formattedValue,rowMetadata.developerMetadata(...)))`: cells and tags in one read. (A range
   that does not parse, a missing tab or one named in another case, costs one metadata read to
   say which tabs there are.)
2. `POST /v4/spreadsheets/ID:batchUpdate`, only when structure changes, atomically: stale tags
   deleted, rows added by hand tagged (createDeveloperMetadata), a missing header cell, and new
   leads inserted at the end of the table (insertDimension + updateCells + their tags). The
   answer includes the sheet as it now is (`includeSpreadsheetInResponse`), which shows whether
   each tag put on by row number landed on the row holding its id.
3. `POST /v4/spreadsheets/ID/values:batchUpdateByDataFilter`: every changed cell, each row
   addressed by a DataFilter with a developerMetadataLookup on its tag. A filter that matches
   nothing (the row was deleted meanwhile) writes nothing and is reported per lead.

Rate limits: 429 (and 403 rateLimitExceeded) back off and retry, honouring Retry-After.

Settings: GOOGLE_SHEET_ID (unset: demo mode, a simulated sheet), GOOGLE_SHEET_WORKSHEET
(default "Leads"), GOOGLE_SHEETS_BASE_URL (default https://sheets.googleapis.com; gspread's
URLs are rewritten onto it, so a sandbox or a local fake can stand in), and credentials from
GOOGLE_ACCESS_TOKEN or GOOGLE_SERVICE_ACCOUNT_FILE.

The simulator (google_sheets_sim) answers the same calls in the API's JSON shapes, with the
metadata moving with its rows; demo mode plugs it into gspread's requests session, and the
tests serve it over HTTP.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import requests
import requests.adapters
from django.conf import settings
from gspread import Client
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL, SPREADSHEETS_API_V4_BASE_URL

from integrations.connectors.base import AuthError, ConnectorError, RateLimitError, Sleep, storable
from integrations.connectors.google_sheets_rows import (
    LEAD_TAG,
    CellWrite,
    RowTag,
    RowWrite,
    SheetSnapshot,
    WriteResult,
    cell_text,
    lookup,
    rows_to_tag,
    snapshot_from,
    structural_requests,
    tags_pending,
    verified,
)
from integrations.http import RetryPolicy, backoff_delay, parse_retry_after

# Re-exported: callers import the data types from the connector module.
__all__ = [
    "LEAD_TAG",
    "CellWrite",
    "RowTag",
    "RowWrite",
    "SheetSnapshot",
    "WriteResult",
    "cell_text",
    "rows_to_tag",
    "tags_pending",
]

if TYPE_CHECKING:
    from integrations.connectors.google_sheets_sim import SheetsSimulator

GOOGLE_BASE_URL = "https://sheets.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/spreadsheets"
DEFAULT_WORKSHEET = "Leads"
DEMO_SPREADSHEET_ID = "demo-leads-sheet"
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
V4_PREFIX = SPREADSHEETS_API_V4_BASE_URL[len(GOOGLE_BASE_URL) :]  # "/v4/spreadsheets"
SPREADSHEET_VALUES_BY_FILTER_URL = SPREADSHEETS_API_V4_BASE_URL + "/%s/values:batchUpdateByDataFilter"
_GRID_FIELDS = (
    "properties(sheetId,title,gridProperties(rowCount,columnCount)),"
    "data(startRow,startColumn,rowData.values.formattedValue,"
    "rowMetadata.developerMetadata(metadataId,metadataKey,metadataValue))"
)
READ_FIELDS = f"spreadsheetId,properties.title,sheets({_GRID_FIELDS})"
BATCH_UPDATE_FIELDS = f"spreadsheetId,updatedSpreadsheet.sheets({_GRID_FIELDS})"


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
        # An append or a structural batchUpdate (it inserts rows) that timed out may have
        # landed: never resend it blind (the next run reads the sheet first and appends only
        # the rows still missing). Every other call is idempotent.
        structural = endpoint.endswith(":batchUpdate") and not endpoint.endswith("/values:batchUpdate")
        idempotent = not (endpoint.endswith(":append") or structural)
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
        """The whole worksheet, with the developer metadata of its rows, in one request
        (`spreadsheets.get` with the tab as range and a field mask for cells and row metadata).
        Raises ConnectorError (AuthError, RateLimitError after the retries), or ConnectorError
        when the tab is missing."""
        try:
            body = self._get_grid(self.worksheet)
        except ConnectorError as exc:
            if exc.status_code != 400:
                raise
            # The range did not parse: the tab is missing or named in another case. One
            # metadata read tells which (and says which tabs there are).
            body = self._get_grid(self._find_tab())
        snapshot = snapshot_from(body, spreadsheet_id=self.spreadsheet_id, worksheet=self.worksheet)
        self.worksheet = snapshot.worksheet
        self.details["spreadsheet_title"] = str(body.get("properties", {}).get("title", ""))[:200]
        return snapshot

    def _get_grid(self, title: str) -> dict[str, Any]:
        http = self.client().http_client
        return http.fetch_sheet_metadata(
            self.spreadsheet_id, params={"ranges": quote_title(title), "fields": READ_FIELDS}
        )

    def _find_tab(self) -> str:
        meta = self.client().http_client.fetch_sheet_metadata(
            self.spreadsheet_id, params={"fields": "sheets.properties.title"}
        )
        titles = [str(s.get("properties", {}).get("title", "")) for s in meta.get("sheets") or []]
        title = next((t for t in titles if t == self.worksheet), None) or next(
            (t for t in titles if t.casefold() == self.worksheet.casefold()), None
        )
        if title is None:
            raise ConnectorError(
                f"The spreadsheet has no tab named {self.worksheet!r} (tabs: {', '.join(titles)[:200]})."
            )
        return title

    def write(
        self,
        *,
        snapshot: SheetSnapshot,
        key_col: int,
        keys: set[str],
        header: list[CellWrite],
        rows: list[RowWrite],
        appends: list[tuple[str, list[str]]],
    ) -> WriteResult:
        """Write back in at most two requests, so that every value reaches its own row even when
        a person sorted the sheet, or inserted or deleted rows, since `snapshot` was read:

        1. Structure, in one `spreadsheets:batchUpdate` (atomic), only when needed: stale tags
           deleted, a LEAD_TAG put on each row in `keys` that has none yet (rows added by hand),
           the header cells, and the `appends` (rows inserted at the end of the table, filled
           and tagged in the same request). Its answer carries the sheet as it now is, which
           shows whether each tag landed on the row holding its key.
        2. Values, in one `values:batchUpdateByDataFilter`: each RowWrite is addressed by its
           tag (a developerMetadataLookup), never by row number; RAW input, so text that looks
           like a formula stays text. A row whose tag matched nothing (the row was deleted
           meanwhile) or could not be verified is reported in `missed`, not written elsewhere.

        Returns what landed. Raises ConnectorError; when step 1 fails, nothing was written."""
        result = WriteResult()
        before = self.requests_made
        current = snapshot
        requests_, tagged = structural_requests(snapshot, key_col=key_col, keys=keys, header=header, appends=appends)
        if requests_:
            http = self.client().http_client
            body = http.request(
                "post",
                SPREADSHEET_BATCH_UPDATE_URL % self.spreadsheet_id,
                params={"fields": BATCH_UPDATE_FIELDS},
                json={
                    "requests": requests_,
                    "includeSpreadsheetInResponse": True,
                    "responseRanges": [quote_title(self.worksheet)],
                    "responseIncludeGridData": True,
                },
            ).json()
            result.appended = len(appends)
            result.tagged = tagged
            result.cells += len(header) + sum(len(line) for _, line in appends)
            result.written |= {key for key, _ in appends}
            if "updatedSpreadsheet" in body:
                current = snapshot_from(body, spreadsheet_id=self.spreadsheet_id, worksheet=self.worksheet)
            else:
                # No sheet in the answer: only tags that were on their rows at the read are
                # trusted (they moved with their rows); rows tagged just now wait a run.
                current = _without_new_tags(snapshot, key_col=key_col)
        writable = verified(current, key_col=key_col)
        data = []
        for row in rows:
            if writable.get(row.key) is None:
                present = any(current.key(current.first_row + i, key_col) == row.key for i in range(len(current.rows)))
                result.missed[row.key] = (
                    "its row was tagged in this run and is written once the tag is checked, on the next run"
                    if present and row.key not in writable
                    else "its row moved while it was being tagged (written on the next run)"
                    if present
                    else "its row is no longer in the sheet"
                )
                continue
            values: list[str | None] = [None] * (max(row.cells) + 1)
            for col, value in row.cells.items():
                values[col] = value
            data.append({"dataFilter": lookup(row.key), "majorDimension": "ROWS", "values": [values]})
        if data:
            http = self.client().http_client
            answer = http.request(
                "post",
                SPREADSHEET_VALUES_BY_FILTER_URL % self.spreadsheet_id,
                json={"valueInputOption": "RAW", "data": data, "includeValuesInResponse": False},
            ).json()
            landed: set[str] = set()
            for response in answer.get("responses") or []:
                matched = ((response or {}).get("dataFilter") or {}).get("developerMetadataLookup") or {}
                if response.get("updatedRange") and int(response.get("updatedCells", 0) or 0) > 0:
                    landed.add(str(matched.get("metadataValue", "")))
                    result.cells += int(response.get("updatedCells", 0) or 0)
            for item in data:
                key = item["dataFilter"]["developerMetadataLookup"]["metadataValue"]
                if key in landed:
                    result.written.add(key)
                else:
                    result.missed[key] = "its row was deleted from the sheet before the write"
        result.requests = self.requests_made - before
        return result

    def close(self) -> None:
        if self._client is not None:
            self._client.http_client.session.close()

    def __enter__(self) -> GoogleSheetsConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _without_new_tags(snapshot: SheetSnapshot, *, key_col: int) -> SheetSnapshot:
    """`snapshot` keeping only the tags that sat on the row holding their key."""
    kept = {row: [t for t in tags if t.value == snapshot.key(row, key_col)][:1] for row, tags in snapshot.tags.items()}
    return replace(snapshot, tags={row: tags for row, tags in kept.items() if tags})
