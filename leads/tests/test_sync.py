"""The two-way lead sync, end to end: the real gspread client against a stateful fake of the
Sheets v4 API on 127.0.0.1, and the database."""

from __future__ import annotations

import pytest

from accounts.actor import Actor
from integrations.connectors.google_sheets import GoogleSheetsConnector
from integrations.http import RetryPolicy
from integrations.models import SyncRecordError, SyncRun
from leads.models import Lead, LeadConflict
from leads.services import lead_conflict_resolve, lead_sheet_preview, lead_sheet_sync, lead_update
from leads.tests.sheets_fake import HEADER
from tasks.models import Task
from tasks.services import task_delete, task_update

pytestmark = pytest.mark.django_db

FAST = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=8.0, max_retry_after=120.0)
ACTOR = Actor.system_job("tests")


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def sync(*, initial: bool = False, rule: str | None = None, sleeps: Sleeps | None = None) -> SyncRun:
    connector = GoogleSheetsConnector(sleep=sleeps if sleeps is not None else Sleeps(), policy=FAST)
    return lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL, initial=initial, connector=connector, rule=rule)


def lead(sheet_id: str) -> Lead:
    return Lead.objects.select_related("task").get(sheet_id=sheet_id)


def move(sheet_id: str, status: str) -> None:
    task_update(task=lead(sheet_id).task, actor=ACTOR, status=status)


@pytest.fixture
def synced(sheet):
    """Three leads after the initial sync, with the request log cleared."""
    run = sync(initial=True)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    sheet.reset_log()
    return sheet


# --- initial sync --------------------------------------------------------------------------------
def test_initial_sync_creates_one_task_per_lead_and_writes_ids_back_in_one_batch(sheet):
    run = sync(initial=True)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.fetched, run.created) == (3, 3)
    tasks = Task.objects.filter(source=Task.Source.SHEET)
    assert tasks.count() == 3
    for n in (1, 2, 3):
        found = lead(f"lead-{n}")
        assert found.task.status == "todo" and found.task.lead_id == found.pk and found.task.external_id == f"lead-{n}"
        assert sheet.get(f"lead-{n}", "task_id") == str(found.task_id)
    # one read, one structural batchUpdate (tags every row), one write by tag; no per-row writes
    assert [m for m, _ in sheet.requests] == ["GET", "POST", "POST"]
    assert sheet.structural_writes == 1 and sheet.value_writes == 1
    assert run.details["requests"] == 3 and run.details["sheet_cells_written"] == 3
    assert run.details["rows_tagged"] == 3
    assert sheet.tags() == {"lead-1": "lead-1", "lead-2": "lead-2", "lead-3": "lead-3"}


def test_initial_sync_twice_creates_nothing_new_and_writes_nothing(synced):
    ids = set(Task.objects.values_list("pk", flat=True))

    run = sync(initial=True)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.created == 0 and run.unchanged == 3
    assert set(Task.objects.values_list("pk", flat=True)) == ids
    assert synced.writes == 0
    assert len(synced.requests) == 1


def test_second_run_with_no_changes_writes_nothing(synced):
    run = sync()

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.created, run.updated, run.removed, run.conflicts) == (0, 0, 0, 0)
    assert all(method == "GET" for method, _ in synced.requests)
    assert len(synced.requests) == 1


def test_new_row_added_later_gets_its_task_on_the_next_incremental_sync(synced):
    synced.rows.append(["lead-4", "Dana", "dana@example.com", "CONTACTED", "Fair", ""])

    sync()

    new = lead("lead-4")
    assert new.task.status == "in_progress"
    assert synced.get("lead-4", "task_id") == str(new.task_id)


# --- status, both directions ------------------------------------------------------------------------
def test_sheet_new_to_contacted_moves_the_task_and_is_not_reverted_next_run(synced):
    synced.set("lead-1", "status", "CONTACTED")

    sync()
    assert lead("lead-1").status == "CONTACTED"
    assert lead("lead-1").task.status == "in_progress"

    synced.reset_log()
    run = sync()  # the old system reverted the sheet here
    assert synced.get("lead-1", "status") == "CONTACTED"
    assert lead("lead-1").task.status == "in_progress"
    assert run.updated == 0 and synced.count("batchUpdate") == 0


@pytest.mark.parametrize(("task_status", "lead_status"), [("in_progress", "CONTACTED"), ("done", "QUALIFIED")])
def test_moving_the_task_changes_the_status_in_the_sheet(synced, task_status, lead_status):
    move("lead-2", task_status)

    run = sync()

    assert run.status == SyncRun.Status.SUCCEEDED
    assert synced.get("lead-2", "status") == lead_status
    assert lead("lead-2").status == lead_status
    assert synced.count("batchUpdate") == 1
    synced.reset_log()
    sync()  # our own write, read back, is not a change
    assert synced.count("batchUpdate") == 0 and lead("lead-2").task.status == task_status


def test_task_moved_back_to_todo_makes_the_lead_new_again(synced):
    move("lead-3", "in_progress")
    sync()
    move("lead-3", "todo")
    sync()
    assert synced.get("lead-3", "status") == "NEW"


def test_lost_in_sheet_makes_the_task_done_and_task_moves_never_revive_it(synced):
    synced.set("lead-1", "status", "lost")  # any case

    sync()
    assert lead("lead-1").status == "LOST" and lead("lead-1").task.status == "done"

    move("lead-1", "in_progress")
    sync()
    assert synced.get("lead-1", "status") == "lost"  # untouched: LOST is terminal
    assert lead("lead-1").status == "LOST"
    assert lead("lead-1").task.status == "done"  # and its task ends done


# --- conflicts ------------------------------------------------------------------------------------
def both_edit_status(sheet):
    sheet.set("lead-1", "status", "CONTACTED")
    move("lead-1", "done")  # Tracker says QUALIFIED


def test_conflict_rule_sheet_keeps_the_sheet_value_and_records_it(synced):
    both_edit_status(synced)

    run = sync(rule="sheet")

    assert run.conflicts == 1
    assert lead("lead-1").status == "CONTACTED" and lead("lead-1").task.status == "in_progress"
    assert synced.get("lead-1", "status") == "CONTACTED"
    record = run.record_errors.get(kind=SyncRecordError.Kind.CONFLICT)
    assert record.external_id == "lead-1" and record.detail["kept"] == "sheet"
    assert not LeadConflict.objects.exists()


def test_conflict_rule_tracker_writes_trackers_value_to_the_sheet(synced):
    both_edit_status(synced)

    run = sync(rule="tracker")

    assert run.conflicts == 1
    assert synced.get("lead-1", "status") == "QUALIFIED"
    assert lead("lead-1").status == "QUALIFIED" and lead("lead-1").task.status == "done"


def test_conflict_rule_review_holds_both_sides_until_a_person_picks_one(synced):
    both_edit_status(synced)
    synced.set("lead-1", "source", "Trade fair")  # an unrelated field still syncs

    run = sync(rule="review")

    conflict = LeadConflict.objects.open().get()
    assert (conflict.field, conflict.sheet_value, conflict.tracker_value) == ("status", "CONTACTED", "QUALIFIED")
    assert synced.get("lead-1", "status") == "CONTACTED" and lead("lead-1").task.status == "done"
    assert lead("lead-1").source == "Trade fair"
    assert run.conflicts == 1
    sync(rule="review")  # still held, still one open conflict
    assert LeadConflict.objects.open().count() == 1

    lead_conflict_resolve(conflict=conflict, side="tracker", actor=ACTOR)
    sync(rule="review")
    assert synced.get("lead-1", "status") == "QUALIFIED"
    assert not LeadConflict.objects.open().exists()
    synced.reset_log()
    sync(rule="review")
    assert synced.count("batchUpdate") == 0


def test_review_conflict_resolved_for_the_sheet_moves_the_task(synced):
    both_edit_status(synced)
    sync(rule="review")

    lead_conflict_resolve(conflict=LeadConflict.objects.get(), side="sheet", actor=ACTOR)

    assert lead("lead-1").status == "CONTACTED" and lead("lead-1").task.status == "in_progress"
    synced.reset_log()
    sync(rule="review")
    assert synced.count("batchUpdate") == 0 and synced.get("lead-1", "status") == "CONTACTED"


def test_a_held_conflict_closes_itself_when_both_sides_agree_again(synced):
    both_edit_status(synced)
    sync(rule="review")
    synced.set("lead-1", "status", "QUALIFIED")

    sync(rule="review")

    conflict = LeadConflict.objects.get()
    assert conflict.resolution == LeadConflict.Side.AUTO


def test_name_edited_on_both_sides_with_review(synced):
    synced.set("lead-2", "name", "Sheet Name")
    lead_update(lead=lead("lead-2"), actor=ACTOR, name="Tracker Name")

    sync(rule="review")

    assert LeadConflict.objects.open().get().field == "name"
    assert synced.get("lead-2", "name") == "Sheet Name" and lead("lead-2").name == "Tracker Name"


# --- sorted sheets, moved and extra columns ---------------------------------------------------------
def test_sheet_sorted_and_columns_moved_still_matches_rows_by_id(synced):
    ids = {f"lead-{n}": synced.get(f"lead-{n}", "task_id") for n in (1, 2, 3)}
    by_id = {f"lead-{n}": synced.row_of(f"lead-{n}") for n in (1, 2, 3)}
    order = ["notes", "status", "task_id", "email", "id", "source", "name"]
    rows = [order]
    for sheet_id in ("lead-3", "lead-1", "lead-2"):  # sorted differently
        values = dict(zip(HEADER, by_id[sheet_id], strict=False))
        values["notes"] = f"call {sheet_id}"
        rows.append([values.get(col, "") for col in order])
    synced.set_rows(rows)
    synced.set("lead-2", "status", "QUALIFIED")
    move("lead-3", "in_progress")

    run = sync()

    assert run.status == SyncRun.Status.SUCCEEDED
    assert lead("lead-2").task.status == "done"
    assert synced.get("lead-3", "status") == "CONTACTED"
    assert synced.get("lead-1", "status") == "NEW"
    for sheet_id, task_id in ids.items():
        assert synced.get(sheet_id, "task_id") == task_id
        assert synced.get(sheet_id, "notes") == f"call {sheet_id}"  # extra column untouched
    assert Task.objects.count() == 3


def test_sheet_without_a_task_id_column_gets_one(sheet):
    sheet.set_rows([["name", "id", "status"], ["Eve", "lead-9", "NEW"]])

    sync(initial=True)

    assert sheet.header() == ["name", "id", "status", "task_id"]
    assert sheet.get("lead-9", "task_id") == str(lead("lead-9").task_id)


# --- bad rows ---------------------------------------------------------------------------------------
def test_bad_rows_are_reported_one_by_one_and_every_other_row_syncs(sheet):
    sheet.set_rows(
        [
            HEADER,
            ["lead-1", "Good One", "one@example.com", "NEW", "Web", ""],
            ["lead-2", "Bad Status", "two@example.com", "MAYBE", "Web", ""],
            ["lead-3", "Bad Email", "not-an-email", "NEW", "Web", ""],
            [],
            ["", "No Id", "noid@example.com", "NEW", "Web", ""],
            ["lead-5", "Twin A", "a@example.com", "NEW", "Web", ""],
            ["lead-5", "Twin B", "b@example.com", "NEW", "Web", ""],
            ["lead-6", "Good Two", "six@example.com", "contacted", "Web", ""],
        ]
    )

    run = sync(initial=True)

    assert run.status == SyncRun.Status.PARTIAL
    assert set(Lead.objects.values_list("sheet_id", flat=True)) == {"lead-1", "lead-6"}
    assert lead("lead-6").task.status == "in_progress"
    messages = list(run.record_errors.filter(kind="error").values_list("message", flat=True))
    assert run.failed == 6 == len(messages)
    text = " | ".join(messages)
    for expected in ("Unknown status 'MAYBE'", "Malformed email", "Blank line", "Missing id", "Duplicate id 'lead-5'"):
        assert expected in text
    assert "Row 3:" in text  # reported with its row number


def test_a_known_lead_whose_row_turns_bad_is_kept_and_flagged(synced):
    synced.set("lead-1", "email", "broken@")

    sync()

    assert lead("lead-1").sync_error.startswith("Malformed email")
    assert lead("lead-1").removed_at is None and lead("lead-1").task.removed_at is None
    synced.set("lead-1", "email", "fixed@example.com")
    sync()
    assert lead("lead-1").sync_error == "" and lead("lead-1").email == "fixed@example.com"


def test_the_sheet_layout_problem_fails_the_run_with_the_reason(sheet):
    sheet.set_rows([["who", "what"], ["x", "y"]])

    run = sync()

    assert run.status == SyncRun.Status.FAILED and "no id, name, status column" in run.error


# --- removal ----------------------------------------------------------------------------------------
def test_deleted_row_marks_the_task_removed_not_deleted(synced):
    synced.delete_row("lead-2")

    run = sync()

    assert run.removed == 1
    assert lead("lead-2").removed_at is not None
    assert lead("lead-2").task.removed_at is not None
    assert Task.objects.count() == 3


def test_deleted_task_clears_the_task_id_in_the_sheet(synced):
    task_delete(task=lead("lead-3").task, actor=ACTOR)

    sync()

    assert synced.get("lead-3", "task_id") == ""
    assert lead("lead-3").task is None
    synced.reset_log()
    sync()  # and no new task appears behind the person's back
    assert lead("lead-3").task is None and synced.count("batchUpdate") == 0


def test_tracker_edits_of_the_task_id_cell_are_put_back(synced):
    real = synced.get("lead-1", "task_id")
    synced.set("lead-1", "task_id", "oops")

    sync()

    assert synced.get("lead-1", "task_id") == real


# --- batching, rate limits, failures ------------------------------------------------------------
def test_429_then_success_backs_off_and_honours_retry_after(synced):
    move("lead-1", "in_progress")
    synced.fail("GET", SHEET_PREFIX, 429, headers={"Retry-After": "7"})
    synced.fail("POST", "values:batchUpdateByDataFilter", 429)
    sleeps = Sleeps()

    run = sync(sleeps=sleeps)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert synced.get("lead-1", "status") == "CONTACTED"
    assert len(sleeps) == 2 and 7 <= sleeps[0] <= 8
    assert run.details["requests"] == 4  # read and write by tag, each retried once


def test_failed_write_keeps_the_sync_state_and_the_next_run_redoes_it(synced):
    move("lead-2", "done")
    baseline = lead("lead-2").sync_baseline
    synced.fail("POST", "values:batchUpdate", 500, times=FAST.max_attempts)

    run = sync()

    assert run.status == SyncRun.Status.FAILED and "Writing to the sheet failed" in run.error
    assert synced.get("lead-2", "status") == "NEW"
    assert lead("lead-2").sync_baseline == baseline

    run = sync()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert synced.get("lead-2", "status") == "QUALIFIED"


def test_failed_write_in_the_initial_sync_keeps_tasks_and_writes_their_ids_next_time(sheet):
    sheet.fail("POST", "values:batchUpdate", 400)

    run = sync(initial=True)

    assert run.status == SyncRun.Status.FAILED
    assert Task.objects.count() == 3 and sheet.get("lead-1", "task_id") == ""
    sync(initial=True)
    assert Task.objects.count() == 3
    assert sheet.get("lead-1", "task_id") == str(lead("lead-1").task_id)


def test_401_fails_the_run_and_marks_the_connection(synced):
    synced.fail("GET", SHEET_PREFIX, 401)

    run = sync()

    assert run.status == SyncRun.Status.FAILED and "new credentials" in run.error


def test_many_changes_on_both_sides_take_three_requests_in_all(sheet):
    sheet.set_rows([HEADER] + [[f"lead-{n}", f"P{n}", "", "NEW", "", ""] for n in range(1, 61)])
    sync(initial=True)
    for n in range(1, 21):
        sheet.set(f"lead-{n}", "status", "CONTACTED")
    for n in range(21, 41):
        move(f"lead-{n}", "done")
    from leads.services import lead_create

    lead_create(actor=ACTOR, name="Made here", email="made@example.com")
    sheet.reset_log()

    run = sync()

    assert run.status == SyncRun.Status.SUCCEEDED
    assert len(sheet.requests) == 3  # read, structural (the appended row), values by tag
    assert sheet.structural_writes == 1 and sheet.value_writes == 1
    assert sheet.get("lead-61", "name") == "Made here"
    assert sheet.get("lead-61", "task_id") == str(lead("lead-61").task_id)
    assert all(sheet.get(f"lead-{n}", "status") == "QUALIFIED" for n in range(21, 41))
    assert all(lead(f"lead-{n}").task.status == "in_progress" for n in range(1, 21))
    assert sheet.tags()["lead-61"] == "lead-61"
    sheet.reset_log()
    sync()
    assert len(sheet.requests) == 1


# --- dry run and demo ------------------------------------------------------------------------------
def test_dry_run_plans_without_writing_anything(synced):
    synced.set("lead-1", "status", "QUALIFIED")
    move("lead-2", "in_progress")
    runs = SyncRun.objects.count()

    plan = lead_sheet_preview()

    kinds = {(i.sheet_id, c.side, c.field) for i in plan.items for c in i.changes}
    assert ("lead-1", "tracker", "task_status") in kinds and ("lead-2", "sheet", "status") in kinds
    reasons = [c.reason for i in plan.items for c in i.changes]
    assert any("changed in the sheet" in r for r in reasons)
    assert lead("lead-1").task.status == "todo" and synced.get("lead-2", "status") == "NEW"
    assert SyncRun.objects.count() == runs and synced.writes == 0


def test_demo_mode_syncs_the_built_in_sheet(settings):
    settings.GOOGLE_SHEET_ID = ""
    run = lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL, initial=True)

    assert run.status == SyncRun.Status.SUCCEEDED and run.details["demo"] is True
    assert Lead.objects.count() == 20 and Task.objects.filter(source="sheet").count() == 20
    again = lead_sheet_sync(trigger=SyncRun.Trigger.MANUAL)
    assert again.status == SyncRun.Status.SUCCEEDED and again.unchanged == 20 and again.details["requests"] == 1


SHEET_PREFIX = "/v4/spreadsheets/"
