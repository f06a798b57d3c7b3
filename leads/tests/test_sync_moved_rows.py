"""A person edits the sheet between the sync's read and its write (sorts it, inserts a row
above, deletes a row): every value still lands in its own lead's row, in at most three
requests, because rows are addressed by their developer metadata tag, never by row number.
The real gspread client runs against the stateful fake of the Sheets v4 API on 127.0.0.1."""

from __future__ import annotations

import pytest

from accounts.actor import Actor
from integrations.connectors.google_sheets import GoogleSheetsConnector
from integrations.http import RetryPolicy
from integrations.models import SyncRecordError, SyncRun
from leads.models import Lead
from leads.services import lead_sheet_preview, lead_sheet_sync, lead_update
from leads.tests.sheets_fake import HEADER, FakeSheet, lead_rows
from tasks.services import task_update

pytestmark = pytest.mark.django_db

ACTOR = Actor.system_job("tests")
IDS = [f"lead-{n}" for n in range(1, 7)]


def sync(*, initial: bool = False) -> SyncRun:
    connector = GoogleSheetsConnector(sleep=lambda s: None, policy=RetryPolicy(max_attempts=2, base_delay=0.01))
    return lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL, initial=initial, connector=connector)


def lead(sheet_id: str) -> Lead:
    return Lead.objects.select_related("task").get(sheet_id=sheet_id)


def expected_row(sheet_id: str, *, task_id_written: bool = True) -> list[str]:
    found = lead(sheet_id)
    task = str(found.task_id) if found.task_id and task_id_written else ""
    return [found.sheet_id, found.name, found.email, found.status, found.source, task]


def row_of(sheet: FakeSheet, sheet_id: str) -> list[str]:
    row = list(sheet.row_of(sheet_id))
    return row + [""] * (len(HEADER) - len(row))


def assert_every_row_is_its_own_leads(sheet: FakeSheet, ids: list[str]) -> None:
    for sheet_id in ids:
        assert row_of(sheet, sheet_id) == expected_row(sheet_id), sheet_id


def edit_both_sides() -> None:
    """Changes that each go to a different row of the sheet."""
    task_update(task=lead("lead-1").task, actor=ACTOR, status="done")
    task_update(task=lead("lead-4").task, actor=ACTOR, status="in_progress")
    lead_update(lead=lead("lead-2"), actor=ACTOR, name="Renamed Two")
    lead_update(lead=lead("lead-6"), actor=ACTOR, source="Trade fair")


@pytest.fixture
def six(sheet):
    """Six leads after the initial sync (every row tagged), with the request log cleared."""
    sheet.set_rows(lead_rows(6))
    run = sync(initial=True)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert sheet.tags() == {sheet_id: sheet_id for sheet_id in IDS}
    sheet.reset_log()
    return sheet


def test_sheet_sorted_between_read_and_write_gets_every_value_in_its_own_row(six):
    edit_both_sides()
    six.between_read_and_write(lambda: six.sort("name", reverse=True))

    run = sync()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert [r[0] for r in six.rows[1:]] == list(reversed(IDS))  # the sort did happen in between
    assert six.get("lead-1", "status") == "QUALIFIED" and six.get("lead-4", "status") == "CONTACTED"
    assert six.get("lead-2", "name") == "Renamed Two" and six.get("lead-6", "source") == "Trade fair"
    assert_every_row_is_its_own_leads(six, IDS)
    assert len(six.requests) <= 3 and six.value_writes == 1 and six.structural_writes == 0
    six.reset_log()
    assert sync().status == SyncRun.Status.SUCCEEDED and six.writes == 0  # the baselines moved


def test_sheet_sorted_through_the_api_between_read_and_write(six):
    """The same, sorted with a sortRange request as another app would."""
    edit_both_sides()

    def sort_by_email_descending() -> None:
        body = {
            "requests": [
                {
                    "sortRange": {
                        "range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 7},
                        "sortSpecs": [{"dimensionIndex": 2, "sortOrder": "DESCENDING"}],
                    }
                }
            ]
        }
        assert six.sim._structural(body, None)[0] == 200

    six.between_read_and_write(sort_by_email_descending)

    assert sync().status == SyncRun.Status.SUCCEEDED
    assert six.rows[1][0] == "lead-6"
    assert_every_row_is_its_own_leads(six, IDS)


def test_row_inserted_above_between_read_and_write_shifts_nothing_onto_the_wrong_lead(six):
    edit_both_sides()
    hand_made = ["lead-7", "Typed In", "typed@example.com", "NEW", "Phone", ""]
    six.between_read_and_write(lambda: six.insert_row(2, hand_made))

    run = sync()

    assert run.status == SyncRun.Status.SUCCEEDED
    assert six.rows[1] == hand_made  # untouched: it was not in the read
    assert_every_row_is_its_own_leads(six, IDS)
    assert len(six.requests) <= 3

    six.reset_log()
    run = sync()  # the new row becomes a lead: tagged and given its task id in one run
    assert run.created == 1 and len(six.requests) == 3 and six.structural_writes == 1
    assert_every_row_is_its_own_leads(six, [*IDS, "lead-7"])
    assert six.tags() == {sheet_id: sheet_id for sheet_id in [*IDS, "lead-7"]}


def test_row_deleted_between_read_and_write_is_reported_and_written_nowhere(six):
    task_update(task=lead("lead-2").task, actor=ACTOR, status="done")
    task_update(task=lead("lead-3").task, actor=ACTOR, status="in_progress")
    baseline = lead("lead-2").sync_baseline
    six.between_read_and_write(lambda: six.delete_row("lead-2"))

    run = sync()

    assert run.status == SyncRun.Status.PARTIAL
    error = run.record_errors.get(kind=SyncRecordError.Kind.ERROR)
    assert error.external_id == "lead-2" and "not written to the sheet" in error.message
    assert six.get("lead-3", "status") == "CONTACTED"
    others = [i for i in IDS if i != "lead-2"]
    assert all(six.get(i, "status") != "QUALIFIED" for i in others)  # lead-2's value went nowhere
    assert_every_row_is_its_own_leads(six, others)
    assert lead("lead-2").sync_baseline == baseline  # unmoved: the next run handles it

    run = sync()
    assert run.status == SyncRun.Status.SUCCEEDED and run.removed == 1
    assert lead("lead-2").removed_at is not None


def test_hand_added_row_tagged_while_the_sheet_is_sorted_gets_its_task_id_next_run(six):
    six.rows.append(["lead-7", "Aaron Typed", "aaron@example.com", "NEW", "Phone", ""])  # no tag yet
    # Sorted before its tag is put on (by row number): the tag lands on another lead's row,
    # the write checks where it landed and does not follow it.
    six.between_read_and_write(lambda: six.sort("name"))
    task_ids = {sheet_id: six.get(sheet_id, "task_id") for sheet_id in IDS}

    run = sync()

    assert run.status == SyncRun.Status.PARTIAL and run.created == 1
    error = run.record_errors.get(kind=SyncRecordError.Kind.ERROR)
    assert error.external_id == "lead-7" and "moved while it was being tagged" in error.message
    assert six.get("lead-7", "task_id") == ""
    assert {sheet_id: six.get(sheet_id, "task_id") for sheet_id in IDS} == task_ids  # nothing misplaced

    run = sync()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert_every_row_is_its_own_leads(six, [*IDS, "lead-7"])
    assert six.tags() == {sheet_id: sheet_id for sheet_id in [*IDS, "lead-7"]}


def test_initial_sync_with_the_sheet_sorted_midway_misplaces_nothing(sheet):
    sheet.set_rows(lead_rows(6))  # never synced: no tags
    sheet.between_read_and_write(lambda: sheet.sort("name", reverse=True))

    run = sync(initial=True)

    assert Lead.objects.count() == 6
    for sheet_id in IDS:  # each task id cell is empty or its own lead's, never another's
        assert sheet.get(sheet_id, "task_id") in ("", str(lead(sheet_id).task_id))
    assert run.status == SyncRun.Status.PARTIAL and run.failed == 6
    assert len(sheet.requests) <= 3

    sheet.reset_log()
    run = sync(initial=True)
    assert run.status == SyncRun.Status.SUCCEEDED and len(sheet.requests) == 3
    assert_every_row_is_its_own_leads(sheet, IDS)
    sheet.reset_log()
    assert sync().status == SyncRun.Status.SUCCEEDED and sheet.writes == 0


def test_a_changed_id_cell_moves_the_tag_and_never_writes_the_old_lead_into_it(six):
    task_update(task=lead("lead-3").task, actor=ACTOR, status="done")
    six.set("lead-3", "id", "lead-30")  # a person retypes the id: another lead for Tracker

    run = sync()

    assert six.get("lead-30", "status") == "NEW"  # lead-3's QUALIFIED is not written here
    assert lead("lead-3").removed_at is not None and Lead.objects.filter(sheet_id="lead-30").exists()
    assert six.tags()["lead-30"] == "lead-30"
    assert run.status == SyncRun.Status.SUCCEEDED


def test_dry_run_reads_once_and_writes_no_tags(sheet):
    plan = lead_sheet_preview(initial=True)

    assert len(plan.items) == 3 and len(sheet.requests) == 1
    assert plan.summary()["rows_to_tag"] == 3
    assert sheet.tags() == {} and sheet.writes == 0


def test_an_id_typed_with_odd_spaces_is_tagged_and_written_like_any_other(sheet):
    """`lead 7` typed with a non-breaking space and a double space: the sync reads the id as
    `lead 7`; its tag, the lookup and the check after writing use that same key."""
    sheet.set_rows([*lead_rows(2), ["lead\u00a0 7", "Odd Spaces", "odd@example.com", "NEW", "Phone", ""]])
    run = sync(initial=True)
    assert run.status == SyncRun.Status.SUCCEEDED, (
        run.error,
        list(run.record_errors.values_list("message", flat=True)),
    )
    odd = lead("lead 7")
    assert sheet.tags()["lead\u00a0 7"] == "lead 7"  # the raw cell carries the key as read

    task_update(task=odd.task, actor=ACTOR, status="in_progress")
    run = sync()
    assert run.status == SyncRun.Status.SUCCEEDED, list(run.record_errors.values_list("message", flat=True))
    rows = [r for r in sheet.rows if r and r[0].replace("\u00a0", " ").split() == ["lead", "7"]]
    assert rows and rows[0][3] == "CONTACTED" and rows[0][5] == str(odd.task_id)
