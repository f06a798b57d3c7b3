"""The Google Sheets connector: the real gspread client against a local, stateful fake of the
Sheets v4 API (127.0.0.1), the retry rules, and the in-process demo sheet."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from integrations.connectors.base import AuthError, ConnectorError, RateLimitError
from integrations.connectors.google_sheets import (
    GoogleSheetsConnector,
    RowWrite,
    col_index,
    col_letter,
    parse_a1,
)
from integrations.connectors.google_sheets_sim import SheetsSimulator
from integrations.http import RetryPolicy

FAST = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=4.0, max_retry_after=60.0)
SHEET = "1ConnectorTestSheet"
ROWS = [
    ["id", "name", "status", "task_id"],
    ["lead-1", "Ada", "NEW"],
    ["lead-2", "Grace", "CONTACTED", "t-2"],
]


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake(settings: Any, platform_server: HTTPServer) -> Iterator[tuple[SheetsSimulator, list[dict[str, str]]]]:
    simulator = SheetsSimulator(spreadsheet_id=SHEET, sheets={"Leads": [list(r) for r in ROWS], "Other": []})
    seen_headers: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        seen_headers.append(dict(request.headers))
        status, headers, body = simulator.handle(
            request.method,
            request.path,
            {k: request.args.getlist(k) for k in request.args},
            request.get_data() or None,
            dict(request.headers),
        )
        return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")

    platform_server.clear()
    platform_server.expect_request(re.compile(r"^/")).respond_with_handler(handler)
    settings.GOOGLE_SHEET_ID = SHEET
    settings.GOOGLE_SHEET_WORKSHEET = "Leads"
    settings.GOOGLE_SHEETS_BASE_URL = platform_server.url_for("").rstrip("/")
    settings.GOOGLE_ACCESS_TOKEN = "sheet-token"
    settings.GOOGLE_SERVICE_ACCOUNT_FILE = ""
    yield simulator, seen_headers
    platform_server.clear()


def connector(sleeps: Sleeps | None = None) -> GoogleSheetsConnector:
    return GoogleSheetsConnector(sleep=sleeps if sleeps is not None else Sleeps(), policy=FAST)


def fail(simulator: SheetsSimulator, method: str, fragment: str, status: int, **extra: Any) -> None:
    body = {"error": {"code": status, "message": f"HTTP {status}", "status": "X", **extra.pop("error", {})}}
    simulator.fail.append((method, fragment, status, body, extra.get("headers", {})))


def test_a1_notation():
    assert [col_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]
    assert all(col_index(col_letter(i)) == i for i in range(800))
    assert parse_a1("'Le''ads'!B2:C9") == ("Le'ads", 2, 1, 9, 2)
    assert parse_a1("Leads") == ("Leads", 1, 0, None, None)
    assert parse_a1("Leads!F5") == ("Leads", 5, 5, 5, 5)
    assert parse_a1("A1:D") == (None, 1, 0, None, 3)


def test_live_mode_reads_the_tab_and_its_row_tags_in_one_request(fake):
    simulator, headers = fake
    conn = connector()

    snapshot = conn.read()

    assert not conn.demo and conn.scope == f"sheet:{SHEET}"
    assert snapshot.worksheet == "Leads" and (snapshot.first_row, snapshot.first_col) == (1, 0)
    assert snapshot.rows == [
        ["id", "name", "status", "task_id"],
        ["lead-1", "Ada", "NEW"],
        ["lead-2", "Grace", "CONTACTED", "t-2"],
    ]
    assert snapshot.tags == {} and snapshot.sheet_id == 0
    assert [m for m, _ in simulator.log] == ["GET"] and conn.requests_made == 1
    assert all(h.get("Authorization") == "Bearer sheet-token" for h in headers)


def write(conn: GoogleSheetsConnector, snapshot, *, rows=(), appends=(), header=(), keys=None):
    return conn.write(
        snapshot=snapshot,
        key_col=0,
        keys={"lead-1", "lead-2"} if keys is None else keys,
        header=list(header),
        rows=list(rows),
        appends=list(appends),
    )


def test_write_tags_rows_appends_in_one_batch_update_then_writes_cells_by_tag(fake):
    simulator, _ = fake
    conn = connector()
    snapshot = conn.read()

    result = write(
        conn,
        snapshot,
        rows=[RowWrite("lead-1", {3: "t-1", 1: "=HYPERLINK(1)"}), RowWrite("lead-2", {2: "QUALIFIED"})],
        appends=[("lead-3", ["lead-3", "Linus", "NEW", "t-3"]), ("lead-4", ["lead-4", "=1+1", "LOST"])],
    )

    assert (result.appended, result.tagged, result.requests) == (2, 4, 2)
    assert result.written == {"lead-1", "lead-2", "lead-3", "lead-4"} and result.missed == {}
    rows = simulator.rows("Leads")
    assert rows[1] == ["lead-1", "=HYPERLINK(1)", "NEW", "t-1"]  # RAW: stays text
    assert rows[2][2] == "QUALIFIED"
    assert [list(r) for r in rows[3:]] == [["lead-3", "Linus", "NEW", "t-3"], ["lead-4", "=1+1", "LOST"]]
    assert [(row, m["metadataValue"]) for row, m in simulator.metadata()] == [
        (2, "lead-1"),
        (3, "lead-2"),
        (4, "lead-3"),
        (5, "lead-4"),
    ]
    assert [p.rsplit("/", 1)[-1] for _, p in simulator.log[1:]] == [
        f"{SHEET}:batchUpdate",
        "values:batchUpdateByDataFilter",
    ]


def test_a_sorted_sheet_still_gets_each_value_in_its_own_row(fake):
    simulator, _ = fake
    conn = connector()
    write(conn, conn.read())  # tags the two rows
    snapshot = conn.read()
    simulator.sort_rows("Leads", col=1, reverse=True)  # Grace above Ada, after the read
    simulator.log.clear()

    result = write(conn, snapshot, rows=[RowWrite("lead-1", {2: "LOST"}), RowWrite("lead-2", {3: "t-22"})])

    assert result.written == {"lead-1", "lead-2"} and result.requests == 1
    assert simulator.rows("Leads")[1:] == [["lead-2", "Grace", "CONTACTED", "t-22"], ["lead-1", "Ada", "LOST"]]


def test_a_row_deleted_since_the_read_is_reported_and_nothing_is_written_elsewhere(fake):
    simulator, _ = fake
    conn = connector()
    write(conn, conn.read())
    snapshot = conn.read()
    simulator.delete_row("Leads", 2)  # lead-1's row

    result = write(conn, snapshot, rows=[RowWrite("lead-1", {2: "LOST"}), RowWrite("lead-2", {2: "NEW"})])

    assert result.written == {"lead-2"} and "deleted" in result.missed["lead-1"]
    assert simulator.rows("Leads") == [["id", "name", "status", "task_id"], ["lead-2", "Grace", "NEW", "t-2"]]


def test_a_tag_that_landed_on_the_wrong_row_is_not_written_through(fake):
    simulator, _ = fake
    conn = connector()
    snapshot = conn.read()  # no tags yet
    simulator.sort_rows("Leads", col=1, reverse=True)  # before the tags are put on by row number

    result = write(conn, snapshot, rows=[RowWrite("lead-1", {3: "t-1"}), RowWrite("lead-2", {3: "t-2b"})])

    assert result.written == set() and set(result.missed) == {"lead-1", "lead-2"}
    assert [r[3] if len(r) > 3 else "" for r in simulator.rows("Leads")[1:]] == ["t-2", ""]  # untouched
    again = conn.read()
    assert write(conn, again, rows=[RowWrite("lead-1", {3: "t-1"})]).written == {"lead-1"}
    assert simulator.rows("Leads")[2] == ["lead-1", "Ada", "NEW", "t-1"]
    assert sorted(m["metadataValue"] for _, m in simulator.metadata()) == ["lead-1", "lead-2"]


def test_without_the_sheet_in_the_batch_update_answer_new_tags_wait_a_run(fake, monkeypatch):
    simulator, _ = fake
    structural = simulator._structural

    def answer_without_sheet(payload, mask):
        status, headers, body = structural(payload, mask)
        body.pop("updatedSpreadsheet", None)
        return status, headers, body

    monkeypatch.setattr(simulator, "_structural", answer_without_sheet)
    conn = connector()
    snapshot = conn.read()  # no tags yet

    result = write(conn, snapshot, rows=[RowWrite("lead-1", {3: "t-1"})], appends=[("lead-3", ["lead-3", "X"])])

    assert result.written == {"lead-3"} and "tagged" in result.missed["lead-1"]
    assert simulator.rows("Leads")[1] == ["lead-1", "Ada", "NEW"]  # not written by a tag not yet checked
    assert write(conn, conn.read(), rows=[RowWrite("lead-1", {3: "t-1"})]).written == {"lead-1"}


def test_nothing_to_write_makes_no_request(fake):
    simulator, _ = fake
    conn = connector()
    snapshot = conn.read()
    simulator.log.clear()
    assert write(conn, snapshot, keys=set()).requests == 0 and simulator.log == []


def test_429_backs_off_honouring_retry_after_then_succeeds(fake):
    simulator, _ = fake
    fail(simulator, "GET", "/v4/", 429, headers={"Retry-After": "5"})
    fail(simulator, "GET", "/v4/", 429)
    sleeps = Sleeps()

    snapshot = connector(sleeps).read()

    assert len(snapshot.rows) == 3
    assert len(sleeps) == 2 and 5 <= sleeps[0] <= 6 and 0.5 <= sleeps[1] <= 2


def test_rate_limit_that_never_ends_gives_up_after_the_attempts(fake):
    simulator, _ = fake
    for _ in range(FAST.max_attempts):
        fail(simulator, "GET", "/v4/", 429)
    with pytest.raises(RateLimitError, match="gave up after 3 attempts"):
        connector().read()


def test_a_retry_after_longer_than_allowed_stops_for_the_next_run(fake):
    simulator, _ = fake
    fail(simulator, "GET", "/v4/", 429, headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    with pytest.raises(RateLimitError, match="next run"):
        connector(sleeps).read()
    assert sleeps == []


def test_403_rate_limit_reason_is_retried(fake):
    simulator, _ = fake
    fail(simulator, "GET", "/v4/", 403, error={"errors": [{"reason": "rateLimitExceeded"}]})
    assert len(connector().read().rows) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_an_auth_error(fake, status):
    simulator, _ = fake
    fail(simulator, "GET", "/v4/", status)
    with pytest.raises(AuthError):
        connector().read()


def test_a_missing_tab_is_a_clear_error(fake, settings):
    settings.GOOGLE_SHEET_WORKSHEET = "Prospects"
    with pytest.raises(ConnectorError, match="no tab named 'Prospects'"):
        connector().read()


def test_tab_name_is_matched_case_insensitively(fake, settings):
    settings.GOOGLE_SHEET_WORKSHEET = "leads"
    assert connector().read().worksheet == "Leads"


def test_an_unknown_spreadsheet_is_not_retried(fake, settings):
    settings.GOOGLE_SHEET_ID = "nope"
    sleeps = Sleeps()
    with pytest.raises(ConnectorError, match="HTTP 404"):
        connector(sleeps).read()
    assert sleeps == []


def test_a_failed_structural_update_is_not_resent_blind(fake):
    simulator, _ = fake
    fail(simulator, "POST", ":batchUpdate", 503)
    conn = connector()
    snapshot = conn.read()
    with pytest.raises(ConnectorError):
        write(conn, snapshot, appends=[("lead-9", ["lead-9", "X", "NEW"])])
    assert sum(1 for _, p in simulator.log if p.endswith(":batchUpdate")) == 1
    assert len(simulator.rows("Leads")) == 3  # nothing inserted


def test_5xx_on_the_write_by_tag_is_retried(fake):
    simulator, _ = fake
    conn = connector()
    write(conn, conn.read())
    snapshot = conn.read()
    fail(simulator, "POST", "values:batchUpdateByDataFilter", 500)
    before = conn.requests_made
    assert write(conn, snapshot, rows=[RowWrite("lead-1", {3: "t-1"})]).written == {"lead-1"}
    assert conn.requests_made - before == 2


def test_a_wrong_batch_update_changes_nothing(fake):
    simulator, _ = fake
    conn = connector()
    http = conn.client().http_client
    requests_ = [
        {"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}},
        {"createDeveloperMetadata": {"developerMetadata": {"metadataKey": "k", "location": {}}}},
    ]
    with pytest.raises(ConnectorError, match="HTTP 400"):
        http.batch_update(SHEET, {"requests": requests_})
    assert simulator.rows("Leads") == [list(r) for r in ROWS]  # atomic: the insert was undone


def test_a_bad_service_account_file_is_an_auth_error(fake, settings):
    settings.GOOGLE_ACCESS_TOKEN = ""
    settings.GOOGLE_SERVICE_ACCOUNT_FILE = "/nonexistent/key.json"
    with pytest.raises(AuthError, match="GOOGLE_SERVICE_ACCOUNT_FILE"):
        connector().read()


def test_live_google_without_credentials_says_what_to_set(settings):
    settings.GOOGLE_SHEET_ID = "abc"
    settings.GOOGLE_SHEETS_BASE_URL = ""
    settings.GOOGLE_ACCESS_TOKEN = ""
    settings.GOOGLE_SERVICE_ACCOUNT_FILE = ""
    with pytest.raises(AuthError, match="GOOGLE_ACCESS_TOKEN"):
        connector().read()


@pytest.mark.django_db
def test_demo_mode_answers_in_process_and_keeps_its_state(settings):
    settings.GOOGLE_SHEET_ID = ""
    assert not GoogleSheetsConnector.is_configured()
    conn = connector()
    rows = conn.read().rows
    assert conn.demo and len(rows) == 21 and rows[0] == ["id", "name", "email", "status", "source", "task_id"]

    snapshot = conn.read()
    write(conn, snapshot, rows=[RowWrite("lead-1", {3: "CONTACTED"})], keys={"lead-1"})

    again = connector().read()  # a new connector (another process) sees the value and the tag
    assert again.rows[1][3] == "CONTACTED" and [t.value for t in again.tags[2]] == ["lead-1"]
