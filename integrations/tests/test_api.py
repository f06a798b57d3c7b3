from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import AuditEvent
from integrations.models import ConnectorState, SyncRecordError, SyncRun
from integrations.schedules import schedules_install
from sponsors.tests.factories import SponsorFactory

pytestmark = pytest.mark.django_db

PULL = "sponsors: pull tasks"


def post_json(client, path, data=None):
    return client.post(path, data=data or {}, content_type="application/json")


def make_run(**fields):
    defaults = {"connector": "salesforce", "scope": "sponsor:1", "status": "succeeded", "finished_at": timezone.now()}
    return SyncRun.objects.create(**{**defaults, **fields})


def test_runs_are_listed_newest_first_and_filtered(api):
    a, b = SponsorFactory(), SponsorFactory()
    old = make_run(sponsor=a, scope=a.sync_scope, started_at=timezone.now() - timedelta(hours=1), created=3)
    failed = make_run(sponsor=b, scope=b.sync_scope, connector="asana", status="failed", error="Asana HTTP 401")
    partial = make_run(sponsor=a, scope=a.sync_scope, connector="google_calendar", status="partial", failed=1)

    body = api.get("/api/v1/sync/runs").json()
    assert [r["id"] for r in body["items"]] == [partial.pk, failed.pk, old.pk] and body["count"] == 3
    assert body["items"][2]["created"] == 3 and body["items"][2]["sponsor_name"] == a.name
    assert [r["id"] for r in api.get("/api/v1/sync/runs", {"connector": "asana"}).json()["items"]] == [failed.pk]
    assert [r["id"] for r in api.get("/api/v1/sync/runs", {"status": "failed"}).json()["items"]] == [failed.pk]
    assert [r["id"] for r in api.get("/api/v1/sync/runs", {"sponsor_id": a.pk}).json()["items"]] == [partial.pk, old.pk]
    assert api.get("/api/v1/sync/runs", {"status": "exploded"}).status_code == 422


def test_run_detail_has_the_per_record_errors_and_conflicts(api):
    run = make_run(status="partial", failed=1, conflicts=1, details={"mode": "full"})
    SyncRecordError.objects.create(run=run, external_id="00T1", message="Unreadable record", detail={"Id": "00T1"})
    SyncRecordError.objects.create(
        run=run, kind="conflict", external_id="00T2", message="status", detail={"kept": "local"}
    )

    body = api.get(f"/api/v1/sync/runs/{run.pk}").json()

    assert body["status"] == "partial" and body["details"] == {"mode": "full"}
    assert [(e["kind"], e["external_id"]) for e in body["record_errors"]] == [("error", "00T1"), ("conflict", "00T2")]
    assert body["duration_seconds"] is not None
    assert api.get("/api/v1/sync/runs/424242").status_code == 404


def test_connectors_say_demo_or_live_and_their_health(api, settings, no_credentials):
    settings.ASANA_ACCESS_TOKEN = "token"
    ConnectorState.objects.create(
        connector="salesforce", scope="sponsor:1", last_error="boom", last_error_at=timezone.now()
    )
    body = {c["key"]: c for c in api.get("/api/v1/sync/connectors").json()}
    assert body["asana"]["mode"] == "live" and body["salesforce"]["mode"] == "demo"
    assert body["salesforce"]["last_error"] == "boom" and body["salesforce"]["failing_scopes"] == 1


def test_scheduler_status_lists_each_schedule(api):
    schedules_install()
    body = api.get("/api/v1/scheduler/status").json()
    pull = next(s for s in body["schedules"] if s["name"] == PULL)
    assert pull["interval"] == "every minute" and pull["integration"] is True and pull["paused"] is False
    assert pull["next_run"] is not None and pull["last_status"] is None
    assert body["cluster_alive"] is False and body["last_heartbeat"] is None


def test_stop_and_start_pause_and_resume_the_integration_schedules(staff_web):
    schedules_install()
    response = post_json(staff_web, "/api/v1/scheduler/stop")

    assert response.status_code == 200
    assert PULL in response.json()["changed"] and response.json()["status"]["integrations_paused"] is True
    assert Schedule.objects.get(name=PULL).repeats == 0
    assert Schedule.objects.get(name="reminders: due soon").repeats == -1, "only integration schedules"
    schedules_install()
    assert Schedule.objects.get(name=PULL).repeats == 0, "a re-install keeps the pause"

    response = post_json(staff_web, "/api/v1/scheduler/start")
    assert response.status_code == 200 and PULL in response.json()["changed"]
    schedule = Schedule.objects.get(name=PULL)
    assert schedule.repeats == -1 and schedule.next_run <= timezone.now()
    assert list(AuditEvent.objects.filter(object_type="scheduler").values_list("action", flat=True)) == [
        "scheduler.resume",
        "scheduler.pause",
    ]


def test_scheduler_writes_are_for_staff_only(api, web):
    schedules_install()
    for path in ("/api/v1/scheduler/stop", "/api/v1/scheduler/start", "/api/v1/scheduler/sync-now"):
        assert api.post(path).status_code == 403
        assert post_json(web, path).status_code == 403
    assert Schedule.objects.get(name=PULL).repeats == -1


def test_sync_now_queues_the_named_job_or_every_integration_job(
    staff_web, settings, no_credentials, django_capture_on_commit_callbacks
):
    settings.SYNC_JOBS_INLINE = True
    schedules_install()
    sponsor = SponsorFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(staff_web, "/api/v1/scheduler/sync-now", {"job": PULL})

    assert response.status_code == 202 and response.json() == {"queued": [PULL]}
    runs = SyncRun.objects.filter(sponsor=sponsor)
    assert sorted(runs.values_list("connector", flat=True)) == ["asana", "google_calendar", "salesforce"]
    assert set(runs.values_list("status", flat=True)) == {"succeeded"}, "demo simulators answered"
    assert set(runs.values_list("trigger", flat=True)) == {"manual"}, "a person asked for them"

    with django_capture_on_commit_callbacks(execute=False):
        response = post_json(staff_web, "/api/v1/scheduler/sync-now")
    assert response.status_code == 202 and PULL in response.json()["queued"]
    assert post_json(staff_web, "/api/v1/scheduler/sync-now", {"job": "nope"}).status_code == 404
    assert post_json(staff_web, "/api/v1/scheduler/sync-now", {"jobs": "x"}).status_code == 422
