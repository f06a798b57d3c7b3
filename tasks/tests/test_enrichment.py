"""Enrichment against a local fake of the JSONPlaceholder API (127.0.0.1): ok, 404, 500, slow,
malformed; the service, the background retry and POST /api/v1/tasks/{id}/enrich."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from accounts.actor import Actor
from accounts.models import AuditEvent
from tasks import enrichment, jobs
from tasks.enrichment import (
    EnrichmentNotFound,
    EnrichmentTimeout,
    EnrichmentUpstreamError,
    enrichment_retry_pending,
    external_ref_clean,
    task_enrich,
    task_enrich_on_save,
)
from tasks.models import Task
from tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

TODO_1 = {"userId": 1, "id": 1, "title": "delectus aut autem", "completed": False}
SLOW_SECONDS = 1.5


@pytest.fixture(scope="module")
def upstream() -> Iterator[HTTPServer]:
    # Threaded, so a deliberately slow answer does not hold up the next request.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture(autouse=True)
def _point_at_fake(upstream: HTTPServer, settings: Any) -> Iterator[None]:
    upstream.clear()
    settings.ENRICHMENT_BASE_URL = upstream.url_for("/")
    settings.ENRICHMENT_TIMEOUT = 0.5
    yield
    # A slow answer finishes after its test: wait for it, so it cannot land in the next test's log.
    while _slow_done:
        _slow_done.pop().wait(timeout=SLOW_SECONDS + 2)
    upstream.clear()


_slow_done: list[threading.Event] = []


def slow(request: Request) -> Response:
    done = threading.Event()
    _slow_done.append(done)
    time.sleep(SLOW_SECONDS)
    done.set()
    return Response(json.dumps(TODO_1), content_type="application/json")


def actor() -> Actor:
    return Actor.system_job("tests")


def stored(task: Task) -> tuple[str, Any]:
    task.refresh_from_db()
    return task.enrichment_status, task.external_data


def test_ok_stores_the_item(upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/1", method="GET").respond_with_json(TODO_1)
    task = TaskFactory(external_ref="1")
    before = Task.objects.values_list("updated_at", flat=True).get(pk=task.pk)
    task_enrich(task=task, actor=actor())
    assert stored(task) == ("ok", TODO_1)
    assert task.enrichment_error == ""
    assert task.updated_at == before  # enrichment is not a human edit: it does not reset staleness
    event = AuditEvent.objects.get(action="task.enrich")
    assert event.changes["enrichment_status"] == ["", "ok"]


def test_404_is_not_found_and_keeps_the_last_good_data(upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/999").respond_with_json({}, status=404)
    task = TaskFactory(external_ref="999", external_data={"old": True}, enrichment_status="ok")
    with pytest.raises(EnrichmentNotFound):
        task_enrich(task=task, actor=actor())
    assert stored(task) == ("not_found", {"old": True})
    assert "999" in task.enrichment_error and task.enrichment_checked_at is not None


def test_500_leaves_it_pending_and_keeps_the_last_good_data(upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/1").respond_with_data("oops", status=500)
    task = TaskFactory(external_ref="1", external_data=TODO_1, enrichment_status="ok")
    with pytest.raises(EnrichmentUpstreamError) as excinfo:
        task_enrich(task=task, actor=actor())
    assert excinfo.value.status == "pending"
    assert stored(task) == ("pending", TODO_1)
    assert "500" in task.enrichment_error


def test_slow_beyond_the_timeout(upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/1").respond_with_handler(slow)
    task = TaskFactory(external_ref="1")
    started = time.monotonic()
    with pytest.raises(EnrichmentTimeout):
        task_enrich(task=task, actor=actor())
    assert time.monotonic() - started < SLOW_SECONDS
    assert stored(task) == ("pending", None)


@pytest.mark.parametrize(
    "body",
    ['{"id": 1, "title": ', "<html>Bad gateway</html>", "[1, 2, 3]", '"just a string"', "", "[" * 100_000],
)
def test_malformed_answers_fail(upstream: HTTPServer, body: str) -> None:
    upstream.expect_request("/todos/1").respond_with_data(body, content_type="application/json")
    task = TaskFactory(external_ref="1")
    with pytest.raises(EnrichmentUpstreamError) as excinfo:
        task_enrich(task=task, actor=actor())
    assert excinfo.value.status == "failed"
    assert stored(task) == ("failed", None)


def test_awkward_but_valid_json_is_stored_safely(upstream: HTTPServer) -> None:
    body = '{"id": 1, "title": "nul\\u0000here \\ud800", "big": 1e400, "nested": {"k\\u0000": [NaN]}}'
    upstream.expect_request("/todos/1").respond_with_data(body, content_type="application/json")
    task = TaskFactory(external_ref="1")
    task_enrich(task=task, actor=actor())
    status, data = stored(task)
    assert status == "ok"
    assert data["title"].startswith("nulhere") and data["big"] is None and data["nested"] == {"k": [None]}


def test_unreachable_api_is_pending() -> None:
    task = TaskFactory(external_ref="1")
    with pytest.raises(EnrichmentUpstreamError) as excinfo:
        task_enrich(task=task, actor=actor())
    assert excinfo.value.status == "pending"


@pytest.mark.parametrize("ref", ["../users/1", "1/comments", "a" * 65, "1?x=2", "-1", "1 2", "١٢"])
def test_impossible_references_are_not_found_without_a_request(upstream: HTTPServer, ref: str) -> None:
    task = TaskFactory(external_ref=ref)
    with pytest.raises(EnrichmentNotFound):
        task_enrich(task=task, actor=actor())
    assert upstream.log == []
    with pytest.raises(ValueError):
        external_ref_clean(ref)


def test_external_ref_clean_trims_and_allows_blank() -> None:
    assert external_ref_clean("  12 ") == "12"
    assert external_ref_clean("   ") == ""
    assert external_ref_clean("7\n") == "7"


def test_a_stored_reference_with_a_newline_is_not_sent(upstream: HTTPServer) -> None:
    task = TaskFactory(external_ref="1\n")
    with pytest.raises(EnrichmentNotFound):
        task_enrich(task=task, actor=actor())
    assert upstream.log == []


def test_on_save_never_raises_and_the_retry_job_completes_it(upstream: HTTPServer) -> None:
    upstream.expect_oneshot_request("/todos/1").respond_with_data("down", status=503)
    task = TaskFactory(external_ref="1")
    assert task_enrich_on_save(task=task, actor=actor()) is task
    assert stored(task) == ("pending", None)

    upstream.expect_request("/todos/1").respond_with_json(TODO_1)
    assert jobs.enrichment_retry() == 1  # the django-q2 entry point
    assert stored(task) == ("ok", TODO_1)
    assert enrichment_retry_pending() == 0


def test_retry_stops_at_the_first_transient_failure(upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/1").respond_with_data("down", status=502)
    for n in range(5):
        TaskFactory(external_ref="1", enrichment_status="pending", title=f"Waiting {n}")
    assert enrichment_retry_pending() == 0
    assert len(upstream.log) == 1  # one call told it the API is still down
    assert Task.objects.filter(enrichment_status="pending").count() == 5


@pytest.mark.django_db(transaction=True)  # the fake API edits the task from its own thread
def test_changing_the_reference_meanwhile_wins(upstream: HTTPServer) -> None:
    def change_then_answer(request: Request) -> Response:
        try:
            Task.objects.filter(external_ref="1").update(external_ref="2")
        finally:
            connection.close()  # this server thread's own connection
        return Response(json.dumps(TODO_1), content_type="application/json")

    upstream.expect_request("/todos/1").respond_with_handler(change_then_answer)
    task = TaskFactory(external_ref="1")
    task_enrich(task=task, actor=actor())
    task.refresh_from_db()
    assert (task.external_ref, task.enrichment_status, task.external_data) == ("2", "", None)


# --- the API ---------------------------------------------------------------------------------


def test_api_enrich_ok(api: Any, upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/1").respond_with_json(TODO_1)
    task = TaskFactory(external_ref="1")
    response = api.post(f"/api/v1/tasks/{task.pk}/enrich")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == str(task.pk)
    assert stored(task) == ("ok", TODO_1)


# Every upstream fault, answered by the fake: (how it answers, the API's status and code, the
# enrichment status left on the task, words the error detail must contain).
FAULTS = {
    "404": (lambda s: s.respond_with_json({}, status=404), 404, "EXTERNAL_NOT_FOUND", "not_found", "no item"),
    "500": (lambda s: s.respond_with_data("x", status=500), 502, "EXTERNAL_API_ERROR", "pending", "HTTP 500"),
    "hang": (lambda s: s.respond_with_handler(slow), 504, "EXTERNAL_API_TIMEOUT", "pending", "did not answer"),
    "malformed": (lambda s: s.respond_with_data("{not json"), 502, "EXTERNAL_API_ERROR", "failed", "malformed JSON"),
    "list": (lambda s: s.respond_with_data("[1,2]"), 502, "EXTERNAL_API_ERROR", "failed", "not an object (a list)"),
    "string": (lambda s: s.respond_with_data('"x"'), 502, "EXTERNAL_API_ERROR", "failed", "not an object (a string)"),
    "null": (lambda s: s.respond_with_data("null"), 502, "EXTERNAL_API_ERROR", "failed", "not an object (null)"),
}


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_api_enrich_fault_keeps_the_last_good_data(
    api: Any, upstream: HTTPServer, settings: Any, fault: tuple[Any, ...]
) -> None:
    answer, status, code, left, words = fault
    upstream.expect_oneshot_request("/todos/1").respond_with_json(TODO_1)
    task = TaskFactory(external_ref="1", title="Keep me")
    short = settings.ENRICHMENT_TIMEOUT
    settings.ENRICHMENT_TIMEOUT = 10  # the good answer is never late, however busy the machine
    good = api.post(f"/api/v1/tasks/{task.pk}/enrich").json()
    settings.ENRICHMENT_TIMEOUT = short
    assert (good["enrichment_status"], good["external_data"]) == ("ok", TODO_1)
    assert good["enrichment_fetched_at"] == good["enrichment_checked_at"] is not None
    events_before = AuditEvent.objects.filter(action="task.enrich").count()

    answer(upstream.expect_request("/todos/1"))
    response = api.post(f"/api/v1/tasks/{task.pk}/enrich")
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error_code"] == code and words in body["detail"]

    after = api.get(f"/api/v1/tasks/{task.pk}").json()
    assert after["title"] == "Keep me"
    assert after["external_data"] == TODO_1, "the last good data is kept"
    assert after["enrichment_fetched_at"] == good["enrichment_fetched_at"], "and says how old it is"
    assert (after["enrichment_status"], after["enrichment_error"]) == (left, body["detail"])
    assert when(after["enrichment_checked_at"]) > when(good["enrichment_checked_at"])
    assert [item for item in api.get("/api/v1/tasks").json()["items"] if item["id"] == str(task.pk)] == [after]
    events = AuditEvent.objects.filter(action="task.enrich").order_by("pk")[events_before:]
    recorded = {"enrichment_status": ["ok", left], "enrichment_error": ["", body["detail"]]}
    assert [e.changes for e in events] == [recorded], "the trail records the failure, not a wipe"

    # The same fault again is recorded (the time of the attempt) but is not news for the trail.
    api.post(f"/api/v1/tasks/{task.pk}/enrich")
    assert AuditEvent.objects.filter(action="task.enrich").count() == events_before + 1
    assert api.get(f"/api/v1/tasks/{task.pk}").json()["external_data"] == TODO_1


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_background_retry_fault_keeps_the_last_good_data(upstream: HTTPServer, fault: tuple[Any, ...]) -> None:
    answer, _, _, left, words = fault
    answer(upstream.expect_request("/todos/1"))
    fetched = timezone.now() - dt.timedelta(days=2)
    task = TaskFactory(
        external_ref="1", external_data=TODO_1, enrichment_status="pending", enrichment_fetched_at=fetched
    )
    jobs.enrichment_retry()  # the django-q2 entry point
    task.refresh_from_db()
    assert (task.external_data, task.enrichment_fetched_at) == (TODO_1, fetched)
    assert task.enrichment_status == left and words in task.enrichment_error
    assert task.enrichment_checked_at is not None and task.enrichment_checked_at > fetched


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_the_one_task_job_keeps_the_last_good_data(upstream: HTTPServer, fault: tuple[Any, ...]) -> None:
    answer, _, _, left, words = fault
    answer(upstream.expect_request("/todos/1"))
    task = TaskFactory(external_ref="1", external_data=TODO_1, enrichment_status="ok")
    assert jobs.task_enrich(str(task.pk)) == left  # the django-q2 entry point
    task.refresh_from_db()
    assert task.external_data == TODO_1 and words in task.enrichment_error


def test_a_new_reference_that_fails_drops_the_other_items_data(api: Any, upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/2").respond_with_data("[1,2]", content_type="application/json")
    task = TaskFactory(
        external_ref="1", external_data=TODO_1, enrichment_status="ok", enrichment_fetched_at=timezone.now()
    )
    body = api.patch(f"/api/v1/tasks/{task.pk}", {"external_ref": "2"}).json()
    assert (body["external_data"], body["enrichment_fetched_at"], body["enrichment_status"]) == (None, None, "failed")
    event = AuditEvent.objects.get(action="task.enrich")
    assert event.changes["external_data"] == ["…", "(cleared)"]


def test_task_page_shows_kept_data_with_the_failed_attempt(web: Any, upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/1").respond_with_data("{not json", content_type="application/json")
    task = TaskFactory(
        external_ref="1",
        external_data=TODO_1,
        enrichment_status="ok",
        enrichment_fetched_at=dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC),
    )
    page = web.get(f"/tasks/{task.pk}/").content.decode()
    assert "Last refreshed" in page and "last attempt failed" not in page
    with pytest.raises(EnrichmentUpstreamError):
        task_enrich(task=task, actor=actor())
    page = web.get(f"/tasks/{task.pk}/").content.decode()
    assert "delectus aut autem" in page
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert "Last refreshed March 4, 2026, 5:06 a.m." in text
    assert "last attempt failed: The external API answered with malformed JSON." in text


def test_api_enrich_unknown_task_and_no_reference(api: Any, anon_api: Any) -> None:
    assert api.post("/api/v1/tasks/00000000-0000-0000-0000-000000000000/enrich").json()["error_code"] == "NOT_FOUND"
    assert api.post("/api/v1/tasks/not-a-uuid/enrich").json()["error_code"] == "NOT_FOUND"
    task = TaskFactory(external_ref="")
    response = api.post(f"/api/v1/tasks/{task.pk}/enrich")
    assert response.status_code == 409 and response.json()["error_code"] == "NO_EXTERNAL_REF"
    assert anon_api.post(f"/api/v1/tasks/{task.pk}/enrich").status_code == 401


def test_enrichment_module_reads_settings_at_call_time(settings: Any) -> None:
    del settings.ENRICHMENT_BASE_URL
    del settings.ENRICHMENT_TIMEOUT
    assert enrichment._base_url() == "https://jsonplaceholder.typicode.com"
    assert enrichment._timeout() == 5.0


# --- external_ref on create and update (API and dashboard) -------------------------------------


def test_api_create_with_external_ref_fetches_its_item(api: Any, upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/1").respond_with_json(TODO_1)
    response = api.post("/api/v1/tasks", {"title": "Linked", "external_ref": " 1 "})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["external_ref"], body["enrichment_status"], body["external_data"]) == ("1", "ok", TODO_1)
    assert stored(Task.objects.get(pk=body["id"])) == ("ok", TODO_1)


def test_api_create_while_the_external_api_is_slow_still_creates_the_task(api: Any, upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/1").respond_with_handler(slow)
    response = api.post("/api/v1/tasks", {"title": "Still saved", "external_ref": "1"})
    assert response.status_code == 201, response.content
    task = Task.objects.get(pk=response.json()["id"])
    assert response.json()["enrichment_status"] == "pending" and stored(task) == ("pending", None)

    upstream.clear()
    upstream.expect_request("/todos/1").respond_with_json(TODO_1)
    assert enrichment_retry_pending() == 1, "the background retry completes it"
    assert stored(task) == ("ok", TODO_1)


def test_api_update_with_a_new_external_ref_refetches(api: Any, upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/2").respond_with_json({**TODO_1, "id": 2})
    task = TaskFactory(external_ref="1", external_data=TODO_1, enrichment_status="ok")
    response = api.patch(f"/api/v1/tasks/{task.pk}", {"external_ref": "2"})
    assert response.status_code == 200, response.content
    assert response.json()["external_data"]["id"] == 2
    unchanged = api.patch(f"/api/v1/tasks/{task.pk}", {"title": "Renamed"})
    assert unchanged.status_code == 200 and len(upstream.log) == 1, "an unchanged ref is not fetched again"
    assert api.patch(f"/api/v1/tasks/{task.pk}", {"external_ref": "../etc"}).status_code == 422
    assert api.post("/api/v1/tasks", {"title": "x", "external_ref": "a b"}).status_code == 422


def test_task_page_shows_the_external_data(web: Any, upstream: HTTPServer) -> None:
    upstream.expect_request("/todos/1").respond_with_json(TODO_1)
    response = web.post(
        "/tasks/new/", {"title": "From the form", "status": "todo", "priority": "medium", "external_ref": "1"}
    )
    assert response.status_code == 302
    task = Task.objects.get(title="From the form")
    assert stored(task) == ("ok", TODO_1)
    page = web.get(f"/tasks/{task.pk}/").content.decode()
    assert "External data" in page and "delectus aut autem" in page and "Fetched" in page
