"""A stateful fake of the Google Sheets v4 API on 127.0.0.1 (pytest-httpserver), so the real
gspread client runs over real HTTP in the tests. The state and the JSON come from the
connector's simulator; this module serves it and gives tests handy ways to edit the sheet."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
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
        self.sim.sheets["Leads"] = [r for r in self.rows if not (r and r[self.header().index("id")] == sheet_id)]

    # --- traffic -----------------------------------------------------------------------------
    def reset_log(self) -> None:
        self.sim.log.clear()

    @property
    def requests(self) -> list[tuple[str, str]]:
        return list(self.sim.log)

    def count(self, fragment: str, method: str | None = None) -> int:
        return sum(1 for m, p in self.sim.log if fragment in p and (method is None or m == method))

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
