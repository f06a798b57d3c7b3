"""A stateful fake of the Google Sheets v4 API on 127.0.0.1 (pytest-httpserver), so the real
gspread client runs over real HTTP in the tests. The state and the JSON come from the
connector's simulator; this module serves it and gives tests handy ways to edit the sheet."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from integrations.connectors.google_sheets_sim import SheetsSimulator

SHEET_ID = "1TestLeadSheet_abcdefghijklmnop"
HEADER = ["id", "name", "email", "status", "source", "task_id"]


class FakeSheet:
    """The sheet as the sales team sees it, plus the requests that reached the fake."""

    def __init__(self, simulator: SheetsSimulator) -> None:
        self.sim = simulator

    # --- the grid ----------------------------------------------------------------------------
    @property
    def rows(self) -> list[list[str]]:
        return self.sim.rows("Leads")

    def header(self) -> list[str]:
        return self.rows[0]

    def set_rows(self, rows: list[list[str]]) -> None:
        self.sim.sheets["Leads"] = [list(r) for r in rows]

    def row_of(self, sheet_id: str) -> list[str]:
        col = self.header().index("id")
        for row in self.rows[1:]:
            if len(row) > col and row[col] == sheet_id:
                return row
        raise KeyError(sheet_id)

    def get(self, sheet_id: str, column: str) -> str:
        row = self.row_of(sheet_id)
        col = self.header().index(column)
        return row[col] if col < len(row) else ""

    def set(self, sheet_id: str, column: str, value: str) -> None:
        row = self.row_of(sheet_id)
        col = self.header().index(column)
        while len(row) <= col:
            row.append("")
        row[col] = value

    def delete_row(self, sheet_id: str) -> None:
        """A person deletes the lead's row (its developer metadata goes with it)."""
        col = self.header().index("id")
        index = next(i for i, r in enumerate(self.rows) if len(r) > col and r[col] == sheet_id)
        self.sim.delete_row("Leads", index + 1)

    def sort(self, column: str, *, reverse: bool = False) -> None:
        """A person sorts the rows below the header by `column` (rows move with their metadata)."""
        self.sim.sort_rows("Leads", col=self.header().index(column), reverse=reverse)

    def insert_row(self, position: int, cells: list[str]) -> None:
        """A person types a row in at sheet row `position`; the rows below move down."""
        self.sim.insert_row("Leads", position, cells)

    def tags(self) -> dict[str, str]:
        """{row's id cell: value of the tracker_lead tag on that row} for every tagged row."""
        col = self.header().index("id")
        return {
            (self.rows[row - 1][col] if len(self.rows[row - 1]) > col else ""): meta["metadataValue"]
            for row, meta in self.sim.metadata("Leads")
            if meta["metadataKey"] == "tracker_lead"
        }

    def between_read_and_write(self, action: Callable[[], None]) -> None:
        """Run `action` (a person's edit) once, just before the first write request arrives."""
        done = []

        def hook(method: str, path: str) -> None:
            if method == "POST" and not done:
                done.append(True)
                action()

        self.sim.before_request = hook

    # --- traffic -----------------------------------------------------------------------------
    def reset_log(self) -> None:
        self.sim.log.clear()

    @property
    def requests(self) -> list[tuple[str, str]]:
        return list(self.sim.log)

    def count(self, fragment: str, method: str | None = None) -> int:
        return sum(1 for m, p in self.sim.log if fragment in p and (method is None or m == method))

    @property
    def structural_writes(self) -> int:
        """spreadsheets:batchUpdate requests (tags, appended rows, header)."""
        return sum(1 for _, p in self.sim.log if p.endswith(f"{SHEET_ID}:batchUpdate"))

    @property
    def value_writes(self) -> int:
        """values:batchUpdateByDataFilter requests (cells addressed by row tags)."""
        return sum(1 for _, p in self.sim.log if p.endswith("/values:batchUpdateByDataFilter"))

    @property
    def writes(self) -> int:
        return sum(1 for m, _ in self.sim.log if m != "GET")

    def fail(
        self, method: str, fragment: str, status: int, *, times: int = 1, headers: dict[str, str] | None = None
    ) -> None:
        reason = "RESOURCE_EXHAUSTED" if status == 429 else "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"
        body = {"error": {"code": status, "message": f"Simulated HTTP {status}", "status": reason}}
        for _ in range(times):
            self.sim.fail.append((method, fragment, status, body, headers or {}))


def lead_rows(count: int, *, status: str = "NEW") -> list[list[str]]:
    return [HEADER] + [
        [f"lead-{n}", f"Person {n}", f"person{n}@example.com", status, "Website", ""] for n in range(1, count + 1)
    ]


@pytest.fixture(scope="session")
def sheets_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


def serve(server: HTTPServer, simulator: SheetsSimulator) -> None:
    """Route every request reaching `server` to `simulator`."""

    def handler(request: Request) -> Response:
        status, headers, payload = simulator.handle(
            request.method,
            request.path,
            {k: request.args.getlist(k) for k in request.args},
            request.get_data() or None,
            dict(request.headers),
        )
        return Response(json.dumps(payload), status=status, headers=headers, content_type="application/json")

    server.clear()
    server.expect_request(re.compile(r"^/.*")).respond_with_handler(handler)


@pytest.fixture
def sheet(settings: Any, sheets_server: HTTPServer) -> Iterator[FakeSheet]:
    """A live-mode sheet of three leads behind the fake API; settings point the connector at it."""
    simulator = SheetsSimulator(spreadsheet_id=SHEET_ID, title="Sales leads", sheets={"Leads": lead_rows(3)})
    serve(sheets_server, simulator)
    settings.GOOGLE_SHEET_ID = SHEET_ID
    settings.GOOGLE_SHEET_WORKSHEET = "Leads"
    settings.GOOGLE_SHEETS_BASE_URL = sheets_server.url_for("").rstrip("/")
    settings.GOOGLE_ACCESS_TOKEN = "test-token"
    settings.GOOGLE_SERVICE_ACCOUNT_FILE = ""
    settings.LEADS_CONFLICT_RULE = "review"
    settings.SYNC_JOBS_INLINE = True
    yield FakeSheet(simulator)
    sheets_server.clear()
