"""Who is responsible for a pulled task: the person the platform names, when that person is a user
here (matched by e-mail, case-insensitively), else the sponsor's owner at reminder time; and the
reminders that follow, on a simulated clock."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.utils import timezone

from accounts.actor import Actor
from integrations.connectors import get_connector
from integrations.connectors.asana import OPT_FIELDS
from integrations.http import RetryPolicy
from integrations.models import SyncRecordError
from integrations.tests.fakes import (
    CALENDAR,
    CALENDAR_PATH,
    asana_page,
    asana_task,
    gcal_event,
    gcal_page,
    serve_salesforce,
    sf_id,
    sf_task,
)
from sponsors.services import sponsor_sync
from sponsors.tests.factories import SponsorFactory
from tasks.models import Notification, Task
from tasks.reminders import due_soon_run, notifications_deliver, overdue_run, stale_run
from tasks.services import task_update

pytestmark = pytest.mark.django_db

FAST = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0)
ASANA_PATH = "/api/1.0/tasks"
H = dt.timedelta(hours=1)


def pull(sponsor: Any, source: str) -> Any:
    connector = get_connector(source, sleep=lambda s: None, policy=FAST)
    run = sponsor_sync(sponsor=sponsor, source=source, trigger="manual", connector=connector)
    assert run.status == "succeeded", run.error
    return run


def serve_asana(server: Any, tasks: list[dict[str, Any]]) -> None:
    server.clear()
    server.expect_request(ASANA_PATH).respond_with_json(asana_page(tasks))


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="bob", email="Bob.Builder@Example.com", password="x")


def _due_in(hours: int) -> tuple[dt.datetime, str]:
    """A due time a few hours after now (the pull keeps it), and the Asana due_at for it."""
    due = (timezone.now() + hours * H).replace(microsecond=0)
    return due, due.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def run_reminders(now: dt.datetime) -> int:
    created = due_soon_run(now=now) + overdue_run(now=now) + stale_run(now=now)
    notifications_deliver(now=now)
    return created


# --- reminders for pulled tasks -------------------------------------------------------------


def test_a_pulled_task_with_nobody_named_reminds_the_sponsors_owner_once(
    live_asana: Any, user: Any, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sponsor = SponsorFactory(owner=user)
    due, due_text = _due_in(10)
    serve_asana(live_asana, [asana_task("31", "Ship the booth banner", due_on=None, due_at=due_text)])
    pull(sponsor, "asana")
    task = Task.objects.get(source="asana", external_id="31")
    assert task.assignee is None and task.created_by is None, "the owner is not written as the assignee"

    now = due - 10 * H
    assert run_reminders(now) == 1
    note = Notification.objects.get()
    assert (note.recipient, note.kind, note.task_id) == (user, "due_soon", task.pk)
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]

    # The next runs of the clock (and a second pull) find nothing new to say until it is overdue.
    pull(sponsor, "asana")
    assert run_reminders(now + 5 * H) == 0
    assert run_reminders(now + 5 * H) == 0
    assert Notification.objects.count() == 1 and len(mail.outbox) == 1
    assert run_reminders(due + H) == 1
    assert run_reminders(due + 2 * H) == 0
    assert sorted(Notification.objects.values_list("recipient__username", "kind")) == [
        ("alice", "due_soon"),
        ("alice", "overdue"),
    ]


def test_a_pulled_task_whose_asana_assignee_is_a_user_reminds_that_user(live_asana: Any, user: Any, bob: Any) -> None:
    sponsor = SponsorFactory(owner=user)
    due, due_text = _due_in(5)
    serve_asana(
        live_asana,
        [asana_task("32", "Approve proofs", due_on=None, due_at=due_text, assignee_email="bob.builder@example.COM")],
    )
    pull(sponsor, "asana")
    assert Task.objects.get(external_id="32").assignee == bob

    assert due_soon_run(now=due - 5 * H) == 1
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["bob"]
    # The request asked Asana for the assignee's e-mail.
    request, _ = live_asana.log[-1]
    assert "assignee.email" in parse_qs(urlsplit(request.url).query)["opt_fields"][0].split(",")
    assert "assignee.email" in OPT_FIELDS.split(",")


def test_an_unknown_person_leaves_the_task_unassigned_and_the_owner_is_reminded(live_asana: Any, user: Any) -> None:
    sponsor = SponsorFactory(owner=user)
    due, due_text = _due_in(3)
    serve_asana(live_asana, [asana_task("33", due_on=None, due_at=due_text, assignee_email="agency@elsewhere.example")])
    pull(sponsor, "asana")
    assert Task.objects.get(external_id="33").assignee is None
    assert due_soon_run(now=due - 3 * H) == 1
    assert Notification.objects.get().recipient == user


def test_a_pulled_task_without_owner_or_person_reminds_nobody(live_asana: Any) -> None:
    sponsor = SponsorFactory()
    due, due_text = _due_in(3)
    serve_asana(live_asana, [asana_task("34", due_on=None, due_at=due_text)])
    pull(sponsor, "asana")
    assert due_soon_run(now=due - 3 * H) == 0


# --- each platform's person -----------------------------------------------------------------


def test_salesforce_owner_email_assigns_the_user(live_salesforce: Any, bob: Any) -> None:
    sponsor = SponsorFactory()
    serve_salesforce(
        live_salesforce,
        [[sf_task(sf_id(1), owner_email="BOB.builder@example.com"), sf_task(sf_id(2), owner_email=None)]],
    )
    pull(sponsor, "salesforce")
    tasks = {t.external_id: t for t in Task.objects.filter(source="salesforce")}
    assert tasks[sf_id(1)].assignee == bob
    assert tasks[sf_id(2)].assignee is None  # a queue owns it: no e-mail
    request, _ = live_salesforce.log[-1]
    soql = parse_qs(urlsplit(request.url).query)["q"][0]
    assert soql.startswith("SELECT ") and "Owner.Email" in soql.split(" FROM ")[0]


def test_calendar_organizer_assigns_the_user(live_calendar: Any, bob: Any) -> None:
    sponsor = SponsorFactory()
    live_calendar.expect_request(CALENDAR_PATH).respond_with_json(
        gcal_page(
            [gcal_event("ev1", organizer_email="bob.builder@example.com"), gcal_event("ev2")],
            sync_token="sync-1",
        )
    )
    pull(sponsor, "google_calendar")
    tasks = {t.external_id: t for t in Task.objects.filter(source="google_calendar")}
    assert tasks["ev1"].assignee == bob
    assert tasks["ev2"].assignee is None  # organised by the sponsor's calendar itself
    assert CALENDAR.endswith("calendar.google.com")


# --- later pulls ----------------------------------------------------------------------------


def test_a_reassignment_upstream_follows_unless_someone_here_chose_another_person(
    live_asana: Any, user: Any, bob: Any, django_user_model: Any
) -> None:
    carol = django_user_model.objects.create_user(username="carol", email="carol@example.com", password="x")
    sponsor = SponsorFactory()
    serve_asana(
        live_asana,
        [asana_task("41", assignee_email="bob.builder@example.com"), asana_task("42", assignee_email=None)],
    )
    pull(sponsor, "asana")
    first, second = Task.objects.get(external_id="41"), Task.objects.get(external_id="42")
    assert (first.assignee, second.assignee) == (bob, None)

    # Upstream hands both to Carol: the first follows (nobody changed it here), the second,
    # unassigned here, takes Carol too.
    serve_asana(
        live_asana,
        [asana_task("41", assignee_email="carol@example.com"), asana_task("42", assignee_email="carol@example.com")],
    )
    run = pull(sponsor, "asana")
    assert run.updated == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.assignee, second.assignee) == (carol, carol)

    # Someone here gives the first to Alice; upstream then moves it to Bob: Alice stays, and the
    # conflict is on the run for a person to see.
    task_update(task=first, actor=Actor.system_job("tests"), assignee=user)
    serve_asana(
        live_asana,
        [
            asana_task("41", assignee_email="bob.builder@example.com"),
            asana_task("42", assignee_email="carol@example.com"),
        ],
    )
    run = pull(sponsor, "asana")
    first.refresh_from_db()
    assert first.assignee == user
    conflict = SyncRecordError.objects.get(run=run, external_id="41")
    assert conflict.detail["field"] == "assignee_email" and conflict.detail["kept"] == "local"

    # Upstream un-assigns: a pull never clears the person here.
    serve_asana(live_asana, [asana_task("41", assignee_email=None), asana_task("42", assignee_email=None)])
    pull(sponsor, "asana")
    second.refresh_from_db()
    assert second.assignee == carol


def test_a_re_pull_with_the_same_person_changes_nothing(live_asana: Any, bob: Any) -> None:
    sponsor = SponsorFactory()
    serve_asana(live_asana, [asana_task("51", assignee_email="bob.builder@example.com")])
    pull(sponsor, "asana")
    run = pull(sponsor, "asana")
    assert (run.created, run.updated, run.unchanged) == (0, 0, 1)
    assert Task.objects.get(external_id="51").assignee == bob
