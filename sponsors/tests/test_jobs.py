"""The scheduled pull and the sync_sponsors command."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from werkzeug import Response

from integrations.models import SyncRun
from integrations.tests.fakes import ACCOUNT, OTHER_ACCOUNT, SF_QUERY_PATH, asana_page, asana_task, sf_page, sf_task
from sponsors.jobs import sponsor_pull_all
from sponsors.tests.factories import SponsorFactory
from tasks.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_retries(settings):
    settings.SYNC_BACKOFF_BASE = 0
    settings.SYNC_MAX_ATTEMPTS = 2
    settings.SYNC_JOBS_INLINE = True


def salesforce_by_account(server, answers):
    """One fake org: each account's query gets its own answer ((status, body))."""

    def handler(request):
        account = next(a for a in answers if f"AccountId = '{a}'" in request.args["q"])
        status, body = answers[account]
        return Response(json.dumps(body), status=status, content_type="application/json")

    server.expect_request(SF_QUERY_PATH).respond_with_handler(handler)


def test_one_failing_platform_or_sponsor_never_stops_the_others(
    live_salesforce, live_asana, fast_retries, settings, django_capture_on_commit_callbacks
):
    settings.GOOGLE_ACCESS_TOKEN = settings.GOOGLE_SERVICE_ACCOUNT_FILE = ""
    a = SponsorFactory(name="A", google_calendar_id="")
    b = SponsorFactory(name="B", salesforce_account_id=OTHER_ACCOUNT, asana_project_gid="", google_calendar_id="")
    SponsorFactory(name="Inactive", is_active=False)
    salesforce_by_account(
        live_salesforce,
        {
            ACCOUNT: (500, [{"message": "boom", "errorCode": "UNKNOWN_EXCEPTION"}]),
            OTHER_ACCOUNT: (200, sf_page([sf_task("00TBBBBBBBBBBBBBBB")])),
        },
    )
    live_asana.expect_request("/api/1.0/tasks").respond_with_json(asana_page([asana_task("77")]))

    with django_capture_on_commit_callbacks(execute=True):
        queued = sponsor_pull_all()

    assert queued == 3
    runs = {(r.sponsor.name, r.connector): r for r in SyncRun.objects.select_related("sponsor")}
    assert set(runs) == {("A", "salesforce"), ("A", "asana"), ("B", "salesforce")}
    assert runs["A", "salesforce"].status == "failed" and "500" in runs["A", "salesforce"].error
    assert runs["A", "asana"].status == "succeeded" and runs["B", "salesforce"].status == "succeeded"
    assert Task.objects.filter(sponsor=a, source="asana").count() == 1
    assert Task.objects.filter(sponsor=b, source="salesforce").count() == 1


def test_a_pull_still_queued_is_not_queued_again(no_credentials, django_capture_on_commit_callbacks):
    SponsorFactory(asana_project_gid="", google_calendar_id="")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert sponsor_pull_all() == 1
        assert sponsor_pull_all() == 0
    assert len(callbacks) == 1 and SyncRun.objects.count() == 1


def test_sync_sponsors_command_pulls_and_summarises(no_credentials):
    SponsorFactory(name="Acme")
    out = StringIO()

    call_command("sync_sponsors", "--sponsor", "acme", stdout=out)

    text = out.getvalue()
    assert "Acme ← Salesforce (demo): pulling" in text
    for label in ("Salesforce", "Asana", "Google Calendar"):
        assert f"Acme ← {label} (demo): succeeded (run #" in text
    assert "created" in text and SyncRun.objects.filter(trigger="manual", status="succeeded").count() == 3


def test_sync_sponsors_command_exits_non_zero_when_a_run_failed(live_salesforce, fast_retries):
    sponsor = SponsorFactory(name="Acme")
    live_salesforce.expect_request(SF_QUERY_PATH).respond_with_json(
        [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], status=401
    )
    out = StringIO()

    with pytest.raises(CommandError, match="1 of 1 pulls failed"):
        call_command("sync_sponsors", "--sponsor", str(sponsor.pk), "--source", "salesforce", stdout=out)

    assert "failed (run #" in out.getvalue() and "new credentials" in out.getvalue()


def test_sync_sponsors_command_refuses_an_unknown_sponsor():
    with pytest.raises(CommandError, match="No sponsor"):
        call_command("sync_sponsors", "--sponsor", "nobody", stdout=StringIO())


def test_old_runs_are_pruned_quiet_ones_sooner():
    from datetime import timedelta

    from django.utils import timezone

    from integrations.services import sync_runs_prune

    now = timezone.now()

    def run(hours_ago, **counts):
        return SyncRun.objects.create(
            connector="asana",
            scope="s",
            status=counts.pop("status", "succeeded"),
            started_at=now - timedelta(hours=hours_ago),
            finished_at=now,
            **counts,
        )

    quiet_recent, quiet_old = run(1), run(30)
    busy_old, busy_ancient = run(30, created=2), run(24 * 40, created=2)
    failed_old = run(30, status="failed")
    running_ancient = SyncRun.objects.create(connector="asana", scope="t", started_at=now - timedelta(days=99))

    assert sync_runs_prune() == 2
    assert set(SyncRun.objects.values_list("pk", flat=True)) == {
        quiet_recent.pk,
        busy_old.pk,
        failed_old.pk,
        running_ancient.pk,
    }
    assert quiet_old.pk and busy_ancient.pk


def test_a_run_waiting_too_long_in_the_queue_is_queued_again(no_credentials, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    SponsorFactory(asana_project_gid="", google_calendar_id="")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert sponsor_pull_all() == 1
        SyncRun.objects.update(started_at=timezone.now() - timedelta(minutes=10))
        assert sponsor_pull_all() == 1, "its job may be lost: queue it again"
        assert sponsor_pull_all() == 0, "not again right away"
    assert len(callbacks) == 2 and SyncRun.objects.count() == 1
