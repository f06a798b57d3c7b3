"""A stateful simulator of the four Sheets API v4 calls the connector makes, in the API's JSON:
the demo sheet (kept in the database so every process sees the same one) and the tests' fake."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
import requests.adapters

from integrations.connectors.google_sheets import (
    DEFAULT_WORKSHEET,
    DEMO_SPREADSHEET_ID,
    V4_PREFIX,
    GoogleSheetsConnector,
    cell_text,
    col_letter,
    parse_a1,
    quote_title,
)

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
            if not path.startswith(V4_PREFIX + "/"):
                return _api_error(404, "Not found.", "NOT_FOUND")
            rest = path[len(V4_PREFIX) + 1 :]
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
                    self.set_cell(sheet, r1 + dr, c1 + dc, cell_text(value))
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
                self.set_cell(sheet, start + offset, c1 + dc, cell_text(value))
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
