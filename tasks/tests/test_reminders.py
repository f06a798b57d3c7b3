"""The reminder jobs along a simulated clock: due soon, overdue, stale, quiet hours, DST, digest,
re-armed reminders and "run twice, send once". Email goes through Django's locmem backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from accounts.actor import Actor
from accounts.preferences import preference_update
from tasks import jobs, services
from tasks.models import Notification, Task
from tasks.reminders import digests_send, due_soon_run, notifications_deliver, overdue_run, stale_run
from tasks.tests.factories import SponsorFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
H = dt.timedelta(hours=1)
T0 = dt.datetime(2025, 1, 15, 9, 0, tzinfo=UTC)  # a Wednesday, 09:00 UTC


@pytest.fixture(autouse=True)
def _mail_and_site(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://tracker.example.com"


def set_prefs(user: Any, **values: Any) -> None:
    preference_update(user=user, actor=Actor.system_job("tests"), **values)


def make_task(*, due: dt.datetime | None = None, updated: dt.datetime = T0, **kwargs: Any) -> Task:
    return TaskFactory(due_at=due, created_at=updated, updated_at=updated, **kwargs)


def kinds(user: Any) -> list[str]:
    return sorted(Notification.objects.filter(recipient=user).values_list("kind", flat=True))


def run_all(now: dt.datetime) -> None:
    due_soon_run(now=now)
    overdue_run(now=now)
    stale_run(now=now)
    notifications_deliver(now=now)


def test_due_soon_reminds_within_the_lead_time_by_app_and_email(user: Any) -> None:
    soon = make_task(due=T0 + 10 * H, assignee=user, title="Send the contract")
    later = make_task(due=T0 + 30 * H, assignee=user, title="Book the venue")

    assert due_soon_run(now=T0) == 1
    n = Notification.objects.get(recipient=user)
    assert (n.kind, n.task_id) == ("due_soon", soon.pk)
    assert "Send the contract" in n.message and "10 hours" in n.message
    assert n.in_app_state == "sent"  # shows in the app at once
    assert mail.outbox == []  # email waits for the delivery job

    report = notifications_deliver(now=T0)
    assert report.emails == 1
    email = mail.outbox[0]
    assert email.to == ["alice@example.com"]
    assert "Due soon" in email.subject and "Send the contract" in email.subject
    link = f"https://tracker.example.com/tasks/{soon.pk}/"
    assert link in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html" and f'href="{link}"' in html

    # Six hours on, the second task comes within 24 hours.
    assert due_soon_run(now=T0 + 6 * H) == 1
    assert Notification.objects.filter(task=later, kind="due_soon").count() == 1


def test_the_reminder_goes_to_the_assignee_else_the_sponsors_owner_else_the_creator(user: Any) -> None:
    owner, creator, assignee = UserFactory(username="olga"), UserFactory(username="carl"), UserFactory(username="ann")
    gone = UserFactory(username="gone", is_active=False)
    sponsor = SponsorFactory(owner=owner)
    cases = {
        "assigned": make_task(due=T0 + 2 * H, assignee=assignee, sponsor=sponsor, created_by=creator),
        "pulled": make_task(due=T0 + 2 * H, sponsor=sponsor, source="asana", external_id="a1"),
        "owner over creator": make_task(due=T0 + 2 * H, sponsor=sponsor, created_by=creator),
        "inactive assignee": make_task(due=T0 + 2 * H, assignee=gone, sponsor=sponsor),
        "no owner": make_task(due=T0 + 2 * H, sponsor=SponsorFactory(), created_by=creator),
        "nobody": make_task(due=T0 + 2 * H, sponsor=SponsorFactory(owner=gone)),
    }
    assert due_soon_run(now=T0) == 5
    got = dict(Notification.objects.values_list("task_id", "recipient__username"))
    assert {name: got.get(task.pk) for name, task in cases.items()} == {
        "assigned": "ann",
        "pulled": "olga",
        "owner over creator": "olga",
        "inactive assignee": "olga",
        "no owner": "carl",
        "nobody": None,
    }
    assert due_soon_run(now=T0 + H) == 0


def test_run_twice_send_once(user: Any) -> None:
    make_task(due=T0 + 2 * H, assignee=user)
    make_task(due=T0 - 2 * H, assignee=user)
    make_task(due=T0 + 100 * H, assignee=user, updated=T0 - dt.timedelta(days=9))
    for _ in range(2):
        run_all(T0)
    run_all(T0 + dt.timedelta(minutes=5))
    assert kinds(user) == ["due_soon", "overdue", "stale"]
    assert len(mail.outbox) == 3
    for _ in range(2):
        notifications_deliver(now=T0 + H)
    assert len(mail.outbox) == 3


def test_a_job_already_running_elsewhere_is_skipped(user: Any) -> None:
    make_task(due=dt.datetime.now(tz=UTC) + H, assignee=user)
    with jobs.job_lock("reminders_due_soon") as acquired:
        assert acquired
        assert jobs.reminders_due_soon() is None  # another run holds the lock
        assert kinds(user) == []
    assert jobs.reminders_due_soon() == 1
    assert kinds(user) == ["due_soon"]


def test_a_job_whose_worker_died_holding_its_lock_runs_when_the_broker_hands_it_out_again(
    user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.Q_TIMEOUT = 300
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 300, "retry": 360}
    make_task(due=dt.datetime.now(tz=UTC) + H, assignee=user)
    dead_worker = jobs.job_lock("reminders_due_soon")
    assert dead_worker.__enter__()  # the worker is killed inside: the lock is never released
    real_now = timezone.now

    def later(seconds: int) -> None:
        clock = lambda: real_now() + dt.timedelta(seconds=seconds)  # noqa: E731
        monkeypatch.setattr(timezone, "now", clock)
        monkeypatch.setattr("django.core.cache.backends.db.tz_now", clock)  # the cache's own clock

    later(300 + 5)  # the run may still be alive: the cluster kills it a few seconds after Q_TIMEOUT
    assert jobs.reminders_due_soon() is None
    assert kinds(user) == []
    later(360 - 1)  # the ORM broker hands the unacknowledged job out again `retry` s after it was taken
    assert jobs.reminders_due_soon() == 1
    assert kinds(user) == ["due_soon"]


def test_recipient_is_the_assignee_else_the_creator(user: Any, other_user: Any) -> None:
    make_task(due=T0 + H, assignee=other_user, created_by=user)
    make_task(due=T0 + H, created_by=user)
    make_task(due=T0 + H)  # nobody to tell
    due_soon_run(now=T0)
    assert kinds(other_user) == ["due_soon"]
    assert kinds(user) == ["due_soon"]
    assert Notification.objects.count() == 2


def test_lead_time_is_per_user(user: Any) -> None:
    set_prefs(user, reminder_lead=dt.timedelta(hours=1))
    task = make_task(due=T0 + 2 * H, assignee=user)
    assert due_soon_run(now=T0) == 0
    assert due_soon_run(now=T0 + 61 * dt.timedelta(minutes=1)) == 1
    assert Notification.objects.get().task_id == task.pk


def test_done_tasks_get_no_reminders(user: Any) -> None:
    make_task(due=T0 + H, assignee=user, status=Task.Status.DONE, updated=T0 - dt.timedelta(days=30))
    make_task(due=T0 - H, assignee=user, status=Task.Status.DONE)
    run_all(T0)
    assert kinds(user) == []


def test_changing_the_due_date_re_arms_the_reminders(user: Any) -> None:
    task = make_task(due=T0 + 10 * H, assignee=user, title="Ship the banner")
    run_all(T0)
    run_all(T0 + H)
    assert kinds(user) == ["due_soon"]

    # Postponed through the same service the dashboard and the API use.
    services.task_update(task=task, actor=Actor(origin="web", user=user), due_at=T0 + 20 * H)
    run_all(T0 + 2 * H)
    assert kinds(user) == ["due_soon", "due_soon"]
    assert len(mail.outbox) == 2

    # Past the new due time: overdue once, however often the job runs.
    run_all(T0 + 21 * H)
    run_all(T0 + 22 * H)
    assert kinds(user) == ["due_soon", "due_soon", "overdue"]
    assert len(mail.outbox) == 3
    assert "overdue" in mail.outbox[-1].subject.lower()


def test_a_reminder_for_a_task_re_dated_or_done_before_delivery_is_dropped(user: Any) -> None:
    set_prefs(user, quiet_start=dt.time(8, 0), quiet_end=dt.time(12, 0))  # UTC
    moved = make_task(due=T0 + 10 * H, assignee=user)
    finished = make_task(due=T0 + 11 * H, assignee=user)
    due_soon_run(now=T0)
    assert Notification.objects.filter(in_app_state="pending").count() == 2  # held in quiet hours
    actor = Actor(origin="web", user=user)
    services.task_update(task=moved, actor=actor, due_at=T0 + 40 * H)
    services.task_update(task=finished, actor=actor, status=Task.Status.DONE)
    report = notifications_deliver(now=T0 + 3 * H)
    assert report.dropped == 2
    assert mail.outbox == []
    assert Notification.objects.visible().count() == 0


def test_overdue_once_per_due_time(user: Any) -> None:
    task = make_task(due=T0 - 5 * dt.timedelta(minutes=1), assignee=user, title="Pay the invoice")
    assert overdue_run(now=T0) == 1
    assert overdue_run(now=T0 + H) == 0
    n = Notification.objects.get(kind="overdue")
    assert n.dedupe_key == f"overdue:{task.pk}:{task.due_at.isoformat()}"
    assert "Pay the invoice" in n.message and "overdue" in n.message


def test_stale_once_per_period_and_re_armed_by_an_update(user: Any) -> None:
    set_prefs(user, stale_after=dt.timedelta(days=2))
    task = make_task(assignee=user, updated=T0, title="Draft the brief")
    assert stale_run(now=T0 + dt.timedelta(days=1)) == 0
    assert stale_run(now=T0 + dt.timedelta(days=2, hours=1)) == 1
    assert stale_run(now=T0 + dt.timedelta(days=3)) == 0  # same period
    assert stale_run(now=T0 + dt.timedelta(days=4, hours=1)) == 1  # next period: still untouched
    assert "Draft the brief" in Notification.objects.filter(kind="stale").first().message

    Task.objects.filter(pk=task.pk).update(updated_at=T0 + dt.timedelta(days=5))  # someone touched it
    assert stale_run(now=T0 + dt.timedelta(days=6)) == 0
    assert stale_run(now=T0 + dt.timedelta(days=7, hours=1)) == 1
    assert kinds(user) == ["stale", "stale", "stale"]


def test_quiet_hours_wrapping_midnight_in_new_york(user: Any, api: Any) -> None:
    set_prefs(user, time_zone="America/New_York", quiet_start=dt.time(22, 0), quiet_end=dt.time(7, 0))
    make_task(due=dt.datetime(2025, 1, 15, 20, 0, tzinfo=UTC), assignee=user)
    night = dt.datetime(2025, 1, 15, 3, 30, tzinfo=UTC)  # 22:30 in New York (EST, UTC-5)

    assert due_soon_run(now=night) == 1
    n = Notification.objects.get()
    assert n.deliver_after == dt.datetime(2025, 1, 15, 12, 0, tzinfo=UTC)  # 07:00 New York time
    assert api.get("/api/v1/notifications").json()["count"] == 0  # not even the bell lights up

    for minute in (0, 60, 5 * 60, 8 * 60 + 29):  # through 00:30, 04:30, 06:59 local
        notifications_deliver(now=night + dt.timedelta(minutes=minute))
    assert mail.outbox == []

    notifications_deliver(now=dt.datetime(2025, 1, 15, 12, 0, tzinfo=UTC))
    assert len(mail.outbox) == 1
    assert api.get("/api/v1/notifications").json()["count"] == 1
    # The email shows the due time in the user's zone: 15:00 New York time.
    assert "15:00" in mail.outbox[0].body and "America/New_York" in mail.outbox[0].body


def test_outside_quiet_hours_it_is_delivered_at_once(user: Any) -> None:
    set_prefs(user, time_zone="America/New_York", quiet_start=dt.time(22, 0), quiet_end=dt.time(7, 0))
    make_task(due=dt.datetime(2025, 1, 15, 20, 0, tzinfo=UTC), assignee=user)
    evening = dt.datetime(2025, 1, 15, 2, 30, tzinfo=UTC)  # 21:30 local
    due_soon_run(now=evening)
    notifications_deliver(now=evening)
    assert len(mail.outbox) == 1


def test_quiet_hours_over_the_spring_forward_night_in_berlin(user: Any) -> None:
    set_prefs(user, time_zone="Europe/Berlin", quiet_start=dt.time(22, 0), quiet_end=dt.time(7, 0))
    make_task(due=dt.datetime(2025, 3, 30, 12, 0, tzinfo=UTC), assignee=user)
    late = dt.datetime(2025, 3, 29, 22, 30, tzinfo=UTC)  # 23:30 CET; at 02:00 clocks jump to 03:00
    due_soon_run(now=late)
    # 07:00 on Sunday is summer time (UTC+2): 05:00 UTC, not the 06:00 a fixed offset would give.
    assert Notification.objects.get().deliver_after == dt.datetime(2025, 3, 30, 5, 0, tzinfo=UTC)
    notifications_deliver(now=dt.datetime(2025, 3, 30, 4, 59, tzinfo=UTC))
    assert mail.outbox == []
    notifications_deliver(now=dt.datetime(2025, 3, 30, 5, 0, tzinfo=UTC))
    assert len(mail.outbox) == 1


def test_quiet_hours_over_the_fall_back_night_in_new_york(user: Any) -> None:
    set_prefs(user, time_zone="America/New_York", quiet_start=dt.time(23, 0), quiet_end=dt.time(6, 0))
    make_task(due=dt.datetime(2025, 11, 2, 18, 0, tzinfo=UTC), assignee=user)
    due_soon_run(now=dt.datetime(2025, 11, 2, 3, 30, tzinfo=UTC))  # 23:30 EDT
    # The night is an hour longer: 06:00 EST is 11:00 UTC.
    notifications_deliver(now=dt.datetime(2025, 11, 2, 10, 30, tzinfo=UTC))  # 05:30 EST
    assert mail.outbox == []
    notifications_deliver(now=dt.datetime(2025, 11, 2, 11, 0, tzinfo=UTC))
    assert len(mail.outbox) == 1


def test_quiet_hours_set_after_creation_still_hold_delivery(user: Any) -> None:
    make_task(due=T0 + H, assignee=user)
    due_soon_run(now=T0)
    set_prefs(user, quiet_start=dt.time(8, 0), quiet_end=dt.time(10, 0))
    notifications_deliver(now=T0 + dt.timedelta(minutes=5))
    assert mail.outbox == []
    assert Notification.objects.get().deliver_after == T0 + H
    notifications_deliver(now=T0 + H)
    assert len(mail.outbox) == 1


def test_channels_switched_off(user: Any, django_user_model: Any) -> None:
    set_prefs(user, notify_in_app=False, notify_email=False)
    no_email = django_user_model.objects.create_user(username="noemail", email="")
    make_task(due=T0 + H, assignee=user)
    make_task(due=T0 + H, assignee=no_email)
    due_soon_run(now=T0)
    notifications_deliver(now=T0)
    mine = Notification.objects.get(recipient=user)
    assert (mine.in_app_state, mine.email_state, mine.webhook_state) == ("skipped", "skipped", "skipped")
    theirs = Notification.objects.get(recipient=no_email)
    assert (theirs.in_app_state, theirs.email_state) == ("sent", "skipped")
    assert mail.outbox == []


def test_daily_digest_once_a_day_in_the_users_morning(user: Any, api: Any) -> None:
    set_prefs(user, time_zone="Asia/Tokyo", digest=True)  # UTC+9
    make_task(due=dt.datetime(2025, 1, 16, 12, 0, tzinfo=UTC), assignee=user, title="Print the flyers")
    make_task(due=dt.datetime(2025, 1, 15, 20, 0, tzinfo=UTC), assignee=user, title="Call the printer")
    make_task(due=dt.datetime(2025, 1, 15, 18, 0, tzinfo=UTC), assignee=user, title="Approve the logo")
    evening = dt.datetime(2025, 1, 15, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo
    due_soon_run(now=evening)
    overdue_run(now=dt.datetime(2025, 1, 15, 18, 30, tzinfo=UTC))
    notifications_deliver(now=dt.datetime(2025, 1, 15, 18, 30, tzinfo=UTC))
    assert mail.outbox == []  # no single emails for a digest user
    assert api.get("/api/v1/notifications").json()["count"] == 4  # the app still shows them as they happen

    assert digests_send(now=dt.datetime(2025, 1, 15, 22, 0, tzinfo=UTC)) == 0  # 07:00 in Tokyo: too early
    morning = dt.datetime(2025, 1, 15, 23, 30, tzinfo=UTC)  # 08:30 in Tokyo
    assert digests_send(now=morning) == 1
    assert digests_send(now=morning + H) == 0
    notifications_deliver(now=morning)
    notifications_deliver(now=morning + H)
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert "digest" in email.subject.lower()
    for title in ("Print the flyers", "Call the printer", "Approve the logo"):
        assert title in email.body
    assert "https://tracker.example.com/tasks/" in email.alternatives[0][0]
    assert api.get("/api/v1/notifications").json()["count"] == 4  # the digest itself is not in the bell

    # Next day, a new reminder goes into the next morning's digest, not into a second one today.
    make_task(due=dt.datetime(2025, 1, 17, 0, 0, tzinfo=UTC), assignee=user, title="Sign off the budget")
    due_soon_run(now=morning + 2 * H)
    assert digests_send(now=morning + 3 * H) == 0
    assert digests_send(now=morning + 24 * H) == 1
    notifications_deliver(now=morning + 24 * H)
    assert len(mail.outbox) == 2 and "Sign off the budget" in mail.outbox[1].body
    assert "Print the flyers" not in mail.outbox[1].body


def test_email_failure_is_retried_with_backoff(user: Any) -> None:
    make_task(due=T0 + H, assignee=user)
    due_soon_run(now=T0)
    # A mail server that refuses connections: the real SMTP backend fails, the run carries on.
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=9,
        EMAIL_TIMEOUT=2,
    ):
        report = notifications_deliver(now=T0)
    assert report.failures == 1
    n = Notification.objects.get()
    assert (n.email_state, n.email_attempts, n.in_app_state) == ("pending", 1, "sent")
    assert n.next_attempt_at == T0 + dt.timedelta(minutes=1)
    assert notifications_deliver(now=T0 + dt.timedelta(seconds=30)).emails == 0  # backing off
    assert notifications_deliver(now=T0 + dt.timedelta(minutes=1)).emails == 1
    n.refresh_from_db()
    assert n.email_state == "sent" and n.delivered_at is not None
    assert len(mail.outbox) == 1
