"""A lead sync whose read of the sheet meets a fault (404, 500, no answer in time, malformed JSON,
JSON that is not the documented object) fails the run with the reason and changes nothing:
every lead, its task and its baseline stay, nothing is marked removed, the sheet is not
written. The real gspread client runs against the stateful Sheets fake (leads/tests/sheets_fake.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from integrations.connectors.google_sheets import GoogleSheetsConnector
from integrations.http import RetryPolicy
from integrations.models import ConnectorState, SyncRun
from integrations.tests.faults import FAULTS, Hang, serve_fault
from leads.models import Lead
from leads.services import lead_sheet_sync
from leads.tests.sheets_fake import FakeSheet, serve

pytestmark = pytest.mark.django_db

FAST = RetryPolicy(max_attempts=2, base_delay=1.0, max_delay=1.0)
# Whatever the sheet is read with (metadata then values, or one spreadsheets.get), the first
# read of the run meets the fault.
READ = re.compile(r"^/v4/spreadsheets/.*")


def sync(*, initial: bool = False, timeout: float = 30.0) -> SyncRun:
    """A sync; the fault syncs pass a short `timeout` so that a held answer times out."""
    connector = GoogleSheetsConnector(sleep=lambda s: None, policy=FAST, timeout=timeout)
    return lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL, initial=initial, connector=connector)


def leads() -> list[tuple[Any, ...]]:
    fields = ("sheet_id", "name", "email", "status", "removed_at", "sync_baseline", "task__title", "task__status")
    return list(Lead.objects.order_by("sheet_id").values_list(*fields))


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_reading_the_sheet_changes_nothing(
    sheet: FakeSheet, sheets_server: HTTPServer, fault: str, hang: Hang
) -> None:
    first = sync(initial=True)
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    before, cells = leads(), [list(row) for row in sheet.rows]
    sheet.reset_log()

    serve_fault(sheets_server, READ, fault, hang=hang, method="GET", times=FAST.max_attempts)
    run = sync(timeout=0.5)

    assert run.status == SyncRun.Status.FAILED, run.error
    assert run.error and not run.error.startswith("Internal error"), run.error
    assert leads() == before, "no lead, task or baseline replaced; nothing marked removed"
    assert sheet.rows == cells and sheet.count(":batchUpdate") == sheet.count(":append") == 0
    state = ConnectorState.objects.get(connector="google_sheets")
    assert state.last_success_at == first.finished_at and state.last_error == run.error

    serve(sheets_server, sheet.sim)  # the fault is over
    assert sync().status == SyncRun.Status.SUCCEEDED, "the next good read syncs as before"
    assert leads() == before
