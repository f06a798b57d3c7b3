"""The /api/v1/tasks contract: fields, validation, filters, pagination, ordering, errors."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import pytest
from django.utils import timezone

from leads.models import Lead
from tasks.models import Task
from tasks.tests.factories import SponsorFactory, TaskFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks"


def assert_validation_error(response: Any, *field: str) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert isinstance(body["detail"], list) and body["detail"]
    for item in body["detail"]:
        assert set(item) == {"loc", "msg"}
        assert isinstance(item["loc"], list) and isinstance(item["msg"], str)
    if field:
        assert any(item["loc"][-len(field) :] == list(field) for item in body["detail"]), body["detail"]
    return body["detail"]


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


# --- create -----------------------------------------------------------------------------------


def test_create_returns_every_field_with_defaults(api: Any) -> None:
    before = timezone.now()
    response = api.post(URL, {"title": "  Call the sponsor  "})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "title",
        "description",
        "status",
        "priority",
        "due_at",
        "sponsor_id",
        "lead_id",
        "assignee",
        "notes",
        "source",
        "external_id",
        "external_url",
        "removed_at",
        "external_ref",
        "external_data",
        "enrichment_status",
        "enrichment_error",
        "enrichment_fetched_at",
        "enrichment_checked_at",
        "position",
        "created_at",
        "updated_at",
        "completed_at",
    }
    assert (body["external_ref"], body["external_data"], body["enrichment_status"]) == ("", None, "")
    assert uuid.UUID(body["id"])
    assert body["title"] == "Call the sponsor"
    assert (body["status"], body["priority"], body["source"]) == ("todo", "medium", "manual")
    assert body["description"] == "" and body["notes"] == ""
    assert body["due_at"] is None and body["sponsor_id"] is None and body["lead_id"] is None
    assert body["assignee"] is None and body["external_id"] is None and body["completed_at"] is None
    assert isinstance(body["position"], int)
    created = dt.datetime.fromisoformat(body["created_at"])
    assert before <= created <= timezone.now()
    assert dt.datetime.fromisoformat(body["updated_at"]) >= created
    assert Task.objects.get(pk=body["id"]).title == "Call the sponsor"


def test_create_with_every_input_field(api: Any, user: Any) -> None:
    sponsor = SponsorFactory()
    lead = Lead.objects.create(sheet_id="lead-1", name="Ada")
    payload = {
        "title": "Prepare the kit",
        "description": "Logos and banners",
        "status": "in_progress",
        "priority": "high",
        "due_at": "2030-05-01T09:30:00+02:00",
        "sponsor_id": sponsor.pk,
        "lead_id": lead.pk,
        "assignee": user.username,
        "notes": "Ask for the vector files",
    }

    response = api.post(URL, payload)

    assert response.status_code == 201, response.content
    body = response.json()
    for field in ("title", "description", "status", "priority", "sponsor_id", "lead_id", "assignee", "notes"):
        assert body[field] == payload[field]
    assert dt.datetime.fromisoformat(body["due_at"]) == dt.datetime(2030, 5, 1, 7, 30, tzinfo=dt.UTC)
    task = Task.objects.get(pk=body["id"])
    assert (task.sponsor, task.lead, task.assignee) == (sponsor, lead, user)


def test_create_done_sets_completed_at(api: Any) -> None:
    body = api.post(URL, {"title": "Already done", "status": "done"}).json()
    assert body["completed_at"] is not None


def test_naive_due_at_is_taken_as_utc(api: Any) -> None:
    body = api.post(URL, {"title": "Naive", "due_at": "2030-01-02T03:04:05"}).json()
    assert dt.datetime.fromisoformat(body["due_at"]) == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_new_tasks_go_to_the_end_of_their_column(api: Any) -> None:
    first = api.post(URL, {"title": "first"}).json()
    second = api.post(URL, {"title": "second"}).json()
    assert second["position"] > first["position"]


@pytest.mark.parametrize(
    "title",
    ["", "   ", "\t\n", "x" * 256, "  " + "y" * 256 + "  "],
    ids=["empty", "spaces", "whitespace", "256", "256-padded"],
)
def test_create_rejects_bad_titles(api: Any, title: str) -> None:
    assert_validation_error(api.post(URL, {"title": title}), "title")
    assert not Task.objects.exists()


def test_title_of_255_after_trimming_is_accepted(api: Any) -> None:
    response = api.post(URL, {"title": "  " + "z" * 255 + "  "})
    assert response.status_code == 201
    assert response.json()["title"] == "z" * 255


def test_title_is_required(api: Any) -> None:
    assert_validation_error(api.post(URL, {"description": "no title"}), "title")


def test_unknown_field_is_rejected(api: Any) -> None:
    detail = assert_validation_error(api.post(URL, {"title": "ok", "colour": "red"}), "colour")
    assert detail[0]["loc"] == ["body", "colour"]
    assert not Task.objects.exists()


def test_read_only_fields_cannot_be_written(api: Any) -> None:
    for field, value in [("source", "salesforce"), ("position", 1), ("completed_at", "2030-01-01T00:00:00Z")]:
        assert_validation_error(api.post(URL, {"title": "ok", field: value}), field)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": 123}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": None}, "title"),
        ({"title": "ok", "status": "later"}, "status"),
        ({"title": "ok", "status": 1}, "status"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "due_at": "tomorrow"}, "due_at"),
        ({"title": "ok", "due_at": True}, "due_at"),
        ({"title": "ok", "sponsor_id": "abc"}, "sponsor_id"),
        ({"title": "ok", "sponsor_id": 0}, "sponsor_id"),
        ({"title": "ok", "sponsor_id": -5}, "sponsor_id"),
        ({"title": "ok", "sponsor_id": 1.5}, "sponsor_id"),
        ({"title": "ok", "sponsor_id": True}, "sponsor_id"),
        ({"title": "ok", "lead_id": "1"}, "lead_id"),
        ({"title": "ok", "lead_id": {"id": 1}}, "lead_id"),
        ({"title": "ok", "assignee": 5}, "assignee"),
        ({"title": "ok", "assignee": ""}, "assignee"),
        ({"title": "ok", "description": []}, "description"),
        ({"title": "ok", "notes": {"a": 1}}, "notes"),
        ({"title": "ok", "description": "d" * 20_001}, "description"),
    ],
)
def test_wrong_types_are_422(api: Any, payload: dict[str, Any], field: str) -> None:
    assert_validation_error(api.post(URL, payload), field)


@pytest.mark.parametrize("body", ["[1, 2]", '"title"', "null", "{bad json", "title=x", "\udcff"])
def test_body_that_is_not_a_json_object_is_422(api: Any, body: str) -> None:
    response = api.client.post(
        URL, data=body.encode("utf-8", "surrogateescape"), content_type="application/json", **api.headers
    )
    assert_validation_error(response)


def test_deeply_nested_json_is_422(api: Any) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = api.client.post(URL, data=body, content_type="application/json", **api.headers)
    assert_validation_error(response)


@pytest.mark.parametrize("field", ["title", "description", "notes", "assignee"])
def test_nul_byte_in_body_is_422(api: Any, field: str) -> None:
    payload = {"title": "ok", field: "bad\x00value"}
    assert_validation_error(api.post(URL, payload), field)
    assert not Task.objects.exists()


def test_nul_byte_in_key_is_422(api: Any) -> None:
    assert_validation_error(api.post(URL, {"title": "ok", "ti\x00tle": "x"}))


def test_lone_surrogate_is_422(api: Any) -> None:
    assert_validation_error(api.post(URL, {"title": "\ud800"}), "title")


@pytest.mark.parametrize(
    "query",
    [
        {"q": "a\x00b"},
        {"status": "todo\x00"},
        {"order": "position\x00"},
        {"due_before": "2030-01-01\x00"},
        {"sponsor_id": "1\x00"},
        {"limit": "5\x00"},
        {"overdue": "true\x00"},
    ],
)
def test_nul_byte_in_query_is_422(api: Any, query: dict[str, str]) -> None:
    assert_validation_error(api.get(URL, query), next(iter(query)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sponsor_id", 2**63),
        ("sponsor_id", 10**30),
        ("lead_id", 2**64 + 1),
        ("lead_id", -(2**63) - 1),
        ("sponsor_id", 1e308),
    ],
)
def test_huge_ints_in_body_are_422(api: Any, field: str, value: Any) -> None:
    assert_validation_error(api.post(URL, {"title": "ok", field: value}), field)


def test_integer_too_long_to_parse_is_422(api: Any) -> None:
    body = '{"title": "ok", "sponsor_id": 1' + "0" * 5000 + "}"
    response = api.client.post(URL, data=body, content_type="application/json", **api.headers)
    assert_validation_error(response)


@pytest.mark.parametrize(
    "query",
    [
        {"limit": str(10**30)},
        {"offset": str(10**30)},
        {"sponsor_id": str(2**63)},
        {"lead_id": "9" * 5000},
        {"limit": "-1"},
        {"limit": "0"},
        {"offset": "-1"},
    ],
)
def test_huge_or_negative_ints_in_query_are_422(api: Any, query: dict[str, str]) -> None:
    assert_validation_error(api.get(URL, query), next(iter(query)))


@pytest.mark.parametrize(
    "due_at",
    ["9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+01:00", "10000-01-01T00:00:00Z", "2030-02-30T00:00:00Z"],
)
def test_out_of_range_dates_are_422(api: Any, due_at: str) -> None:
    assert_validation_error(api.post(URL, {"title": "ok", "due_at": due_at}), "due_at")
    assert_validation_error(api.get(URL, {"due_before": due_at}), "due_before")


def test_ids_in_the_body_must_be_json_numbers(api: Any) -> None:
    sponsor = SponsorFactory()
    for value in (str(sponsor.pk), float(sponsor.pk)):
        assert_validation_error(api.post(URL, {"title": "ok", "sponsor_id": value}), "sponsor_id")
    assert api.post(URL, {"title": "ok", "sponsor_id": sponsor.pk}).status_code == 201


@pytest.mark.parametrize("due_at", [0, 1700000000, "1700000000", "0.5", True])
def test_dates_must_be_iso_8601_text(api: Any, due_at: Any) -> None:
    assert_validation_error(api.post(URL, {"title": "ok", "due_at": due_at}), "due_at")
    if isinstance(due_at, str):
        assert_validation_error(api.get(URL, {"due_after": due_at}), "due_after")


@pytest.mark.parametrize(
    ("field", "value"),
    [("sponsor_id", 999_999), ("lead_id", 999_999), ("assignee", "nobody")],
)
def test_unknown_relations_are_422(api: Any, field: str, value: Any) -> None:
    assert_validation_error(api.post(URL, {"title": "ok", field: value}), field)
    assert not Task.objects.exists()


def test_inactive_assignee_is_422(api: Any, other_user: Any) -> None:
    other_user.is_active = False
    other_user.save()
    assert_validation_error(api.post(URL, {"title": "ok", "assignee": other_user.username}), "assignee")


def test_absurdly_long_text_is_422_not_500(api: Any) -> None:
    assert_validation_error(api.post(URL, {"title": "t" * 100_000}), "title")
    assert_validation_error(api.get(URL, {"q": "q" * 10_000}), "q")


# --- list -------------------------------------------------------------------------------------


def test_list_shape_and_default_limit(api: Any) -> None:
    TaskFactory.create_batch(60)

    body = api.get(URL).json()

    assert set(body) == {"items", "count"}
    assert body["count"] == 60
    assert len(body["items"]) == 50


def test_limit_and_offset(api: Any) -> None:
    tasks = TaskFactory.create_batch(12)
    all_ids = [str(t.pk) for t in tasks]

    assert ids(api.get(URL, {"limit": 5})) == all_ids[:5]
    assert ids(api.get(URL, {"limit": 5, "offset": 10})) == all_ids[10:]
    assert api.get(URL, {"limit": 5, "offset": 10}).json()["count"] == 12
    assert ids(api.get(URL, {"offset": 100})) == []


def test_limit_500_is_allowed_and_501_is_422(api: Any) -> None:
    TaskFactory.create_batch(3)
    assert api.get(URL, {"limit": 500}).status_code == 200
    assert_validation_error(api.get(URL, {"limit": 501}), "limit")


def test_filters(api: Any) -> None:
    now = timezone.now()
    sponsor, other_sponsor = SponsorFactory(), SponsorFactory()
    lead = Lead.objects.create(sheet_id="lead-7", name="Lin")
    overdue = TaskFactory(title="Overdue report", due_at=now - dt.timedelta(days=2), sponsor=sponsor)
    done_late = TaskFactory(title="Done late", status="done", due_at=now - dt.timedelta(days=3), completed_at=now)
    soon = TaskFactory(
        title="Soon", description="Budget REVIEW with finance", priority="high", due_at=now + dt.timedelta(days=1)
    )
    later = TaskFactory(title="Later", due_at=now + dt.timedelta(days=30), sponsor=other_sponsor, lead=lead)
    imported = TaskFactory(title="From Salesforce", source="salesforce", external_id="00T1", status="in_progress")
    undated = TaskFactory(title="No date", priority="low")

    def found(**query: Any) -> set[str]:
        return set(ids(api.get(URL, query)))

    assert found(status="done") == {str(done_late.pk)}
    assert found(status="in_progress") == {str(imported.pk)}
    assert found(priority="high") == {str(soon.pk)}
    assert found(priority="low") == {str(undated.pk)}
    assert found(source="salesforce") == {str(imported.pk)}
    assert found(sponsor_id=sponsor.pk) == {str(overdue.pk)}
    assert found(lead_id=lead.pk) == {str(later.pk)}
    assert found(due_before=(now + dt.timedelta(days=2)).isoformat()) == {
        str(overdue.pk),
        str(done_late.pk),
        str(soon.pk),
    }
    assert found(due_after=now.isoformat()) == {str(soon.pk), str(later.pk)}
    assert found(due_after=now.isoformat(), due_before=(now + dt.timedelta(days=2)).isoformat()) == {str(soon.pk)}
    assert found(overdue="true") == {str(overdue.pk)}
    assert found(q="review") == {str(soon.pk)}
    assert found(q="SALESFORCE") == {str(imported.pk)}
    assert found(q="100%_") == set()
    assert found(status="todo", priority="high") == {str(soon.pk)}
    assert api.get(URL, {"overdue": "true"}).json()["count"] == 1


@pytest.mark.parametrize("query", [{"status": "open"}, {"priority": "x"}, {"source": "jira"}, {"order": "title; DROP"}])
def test_unknown_filter_values_are_422(api: Any, query: dict[str, str]) -> None:
    assert_validation_error(api.get(URL, query), next(iter(query)))


def test_orderings(api: Any) -> None:
    now = timezone.now()
    a = TaskFactory(title="a", priority="low", due_at=now + dt.timedelta(days=3))
    b = TaskFactory(title="b", priority="high", due_at=now + dt.timedelta(days=1))
    c = TaskFactory(title="c", priority="medium", due_at=now + dt.timedelta(days=2))
    Task.objects.filter(pk=a.pk).update(updated_at=now - dt.timedelta(hours=3))
    Task.objects.filter(pk=b.pk).update(updated_at=now - dt.timedelta(hours=1))
    Task.objects.filter(pk=c.pk).update(updated_at=now - dt.timedelta(hours=2))

    assert ids(api.get(URL)) == [str(a.pk), str(b.pk), str(c.pk)]
    assert ids(api.get(URL, {"order": "position"})) == [str(a.pk), str(b.pk), str(c.pk)]
    assert ids(api.get(URL, {"order": "due_at"})) == [str(b.pk), str(c.pk), str(a.pk)]
    assert ids(api.get(URL, {"order": "-updated_at"})) == [str(b.pk), str(c.pk), str(a.pk)]
    assert ids(api.get(URL, {"order": "priority"})) == [str(b.pk), str(c.pk), str(a.pk)]


def test_list_query_count_does_not_grow_with_page_size(api: Any, user: Any, django_assert_max_num_queries: Any) -> None:
    sponsors = SponsorFactory.create_batch(3)
    lead = Lead.objects.create(sheet_id="lead-9", name="Max")
    for i in range(210):
        TaskFactory(sponsor=sponsors[i % 3], lead=lead if i % 2 else None, assignee=user if i % 5 else None)
    api.get(URL, {"limit": 1})  # the key's last_used_at is refreshed once a minute: not on the next calls

    # API key lookup + rate-limit counter + page + count.
    with django_assert_max_num_queries(4) as small:
        assert len(api.get(URL, {"limit": 5}).json()["items"]) == 5
    with django_assert_max_num_queries(4) as large:
        response = api.get(URL, {"limit": 200, "order": "priority", "status": "todo"})
    assert len(response.json()["items"]) == 200
    assert len(large.captured_queries) == len(small.captured_queries)


# --- read, update, delete ---------------------------------------------------------------------


def test_get_one(api: Any) -> None:
    task = TaskFactory(title="Read me")
    response = api.get(f"{URL}/{task.pk}")
    assert response.status_code == 200
    assert response.json()["title"] == "Read me"
    assert response.json()["id"] == str(task.pk)


def test_get_one_accepts_uppercase_uuid(api: Any) -> None:
    task = TaskFactory()
    assert api.get(f"{URL}/{str(task.pk).upper()}").status_code == 200


@pytest.mark.parametrize("task_id", [str(uuid.uuid4()), "not-a-uuid", "123", "%00", "a" * 300, "%F0%9F%92%A9"])
def test_unknown_or_malformed_id_is_404(api: Any, task_id: str) -> None:
    for response in (
        api.get(f"{URL}/{task_id}"),
        api.patch(f"{URL}/{task_id}", {"title": "x"}),
        api.put(f"{URL}/{task_id}", {"title": "x"}),
        api.delete(f"{URL}/{task_id}"),
        api.post(f"{URL}/{task_id}/move", {}),
        api.get(f"{URL}/{task_id}/history"),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["error_code"] == "NOT_FOUND"


@pytest.mark.parametrize("method", ["patch", "put"])
def test_put_and_patch_are_partial(api: Any, method: str) -> None:
    task = api.post(URL, {"title": "Original", "description": "keep me", "priority": "high"}).json()

    response = getattr(api, method)(f"{URL}/{task['id']}", {"title": "  Renamed  "})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "Renamed"
    assert body["description"] == "keep me" and body["priority"] == "high"
    assert dt.datetime.fromisoformat(body["updated_at"]) >= dt.datetime.fromisoformat(task["updated_at"])


def test_update_can_clear_optional_fields(api: Any, user: Any) -> None:
    sponsor = SponsorFactory()
    task = api.post(
        URL,
        {
            "title": "t",
            "sponsor_id": sponsor.pk,
            "assignee": user.username,
            "due_at": "2030-01-01T00:00:00Z",
            "notes": "n",
        },
    ).json()

    body = api.patch(
        f"{URL}/{task['id']}", {"sponsor_id": None, "assignee": None, "due_at": None, "notes": None}
    ).json()

    assert (body["sponsor_id"], body["assignee"], body["due_at"], body["notes"]) == (None, None, None, "")


@pytest.mark.parametrize("field", ["title", "status", "priority"])
def test_required_fields_cannot_be_nulled(api: Any, field: str) -> None:
    task = TaskFactory()
    assert_validation_error(api.patch(f"{URL}/{task.pk}", {field: None}), field)


def test_update_validation(api: Any) -> None:
    task = TaskFactory(title="Keep")
    assert_validation_error(api.patch(f"{URL}/{task.pk}", {"title": "   "}), "title")
    assert_validation_error(api.patch(f"{URL}/{task.pk}", {"bogus": 1}), "bogus")
    assert_validation_error(api.patch(f"{URL}/{task.pk}", {"sponsor_id": 999_999}), "sponsor_id")
    assert_validation_error(api.put(f"{URL}/{task.pk}", {"notes": "a\x00"}), "notes")
    task.refresh_from_db()
    assert task.title == "Keep"


def test_status_done_sets_completed_at_and_reopening_clears_it(api: Any) -> None:
    task = api.post(URL, {"title": "Finish"}).json()

    done = api.patch(f"{URL}/{task['id']}", {"status": "done"}).json()
    assert done["status"] == "done" and done["completed_at"] is not None

    still_done = api.patch(f"{URL}/{task['id']}", {"title": "Finished"}).json()
    assert still_done["completed_at"] == done["completed_at"]

    reopened = api.put(f"{URL}/{task['id']}", {"status": "todo"}).json()
    assert reopened["status"] == "todo" and reopened["completed_at"] is None


def test_status_change_puts_task_at_end_of_new_column(api: Any) -> None:
    existing = TaskFactory(status="in_progress")
    task = TaskFactory(status="todo")

    body = api.patch(f"{URL}/{task.pk}", {"status": "in_progress"}).json()

    assert body["position"] > existing.position
    assert ids(api.get(URL, {"status": "in_progress"})) == [str(existing.pk), str(task.pk)]


def test_delete(api: Any) -> None:
    task = TaskFactory()
    response = api.delete(f"{URL}/{task.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"{URL}/{task.pk}").status_code == 404
    assert api.delete(f"{URL}/{task.pk}").status_code == 404
    assert not Task.objects.filter(pk=task.pk).exists()


def test_imported_tasks_are_editable(api: Any) -> None:
    task = TaskFactory(source="salesforce", external_id="00T000000000001", title="From SF")

    body = api.patch(f"{URL}/{task.pk}", {"title": "Edited locally", "status": "done"}).json()

    assert body["title"] == "Edited locally"
    assert body["source"] == "salesforce" and body["external_id"] == "00T000000000001"
    assert body["completed_at"] is not None
    assert api.post(f"{URL}/{task.pk}/move", {"status": "todo"}).status_code == 200
    assert api.delete(f"{URL}/{task.pk}").status_code == 204


def test_history(api: Any) -> None:
    task = api.post(URL, {"title": "Tracked"}).json()
    api.patch(f"{URL}/{task['id']}", {"title": "Tracked twice"})

    history = api.get(f"{URL}/{task['id']}/history").json()

    assert [e["action"] for e in history] == ["task.update", "task.create"]
    assert history[0]["changes"]["title"] == ["Tracked", "Tracked twice"]
    assert history[0]["actor"] == "alice (key tests)"


# --- move -------------------------------------------------------------------------------------


def column(api: Any, status: str) -> list[str]:
    return ids(api.get(URL, {"status": status, "order": "position", "limit": 500}))


def move(api: Any, task: Any, **payload: Any) -> Any:
    body = {k: str(v.pk) if hasattr(v, "pk") else v for k, v in payload.items()}
    return api.post(f"{URL}/{task.pk}/move", body)


def test_move_between_two_neighbours(api: Any) -> None:
    a, b, c, d = TaskFactory.create_batch(4)

    response = move(api, d, after_id=a, before_id=b)

    assert response.status_code == 200, response.content
    assert response.json()["id"] == str(d.pk)
    assert column(api, "todo") == [str(t.pk) for t in (a, d, b, c)]


def test_move_after_only_before_only_and_to_the_end(api: Any) -> None:
    a, b, c = TaskFactory.create_batch(3)

    assert move(api, a, after_id=c).status_code == 200
    assert column(api, "todo") == [str(t.pk) for t in (b, c, a)]

    assert move(api, a, before_id=b).status_code == 200
    assert column(api, "todo") == [str(t.pk) for t in (a, b, c)]

    assert move(api, a).status_code == 200  # no neighbours, no status: to the end of its column
    assert column(api, "todo") == [str(t.pk) for t in (b, c, a)]


def test_move_to_another_column(api: Any) -> None:
    a, b = TaskFactory.create_batch(2)
    x, y = TaskFactory.create_batch(2, status="in_progress")

    body = move(api, a, status="in_progress", after_id=x, before_id=y).json()
    assert body["status"] == "in_progress" and body["completed_at"] is None
    assert column(api, "in_progress") == [str(t.pk) for t in (x, a, y)]
    assert column(api, "todo") == [str(b.pk)]

    body = move(api, b, status="done").json()  # status only: end of the done column
    assert body["status"] == "done" and body["completed_at"] is not None
    assert column(api, "done") == [str(b.pk)]

    body = move(api, b, before_id=x).json()  # column taken from the neighbour
    assert body["status"] == "in_progress" and body["completed_at"] is None
    assert column(api, "in_progress") == [str(t.pk) for t in (b, x, a, y)]


def test_move_into_an_empty_column(api: Any) -> None:
    task = TaskFactory()
    assert move(api, task, status="done").status_code == 200
    assert column(api, "done") == [str(task.pk)]


def test_move_with_neighbours_not_adjacent_goes_right_after_the_first(api: Any) -> None:
    # A filtered board shows neighbours that need not be adjacent in the whole column.
    a, b, c, d = TaskFactory.create_batch(4)
    assert move(api, d, after_id=a, before_id=c).status_code == 200
    assert column(api, "todo") == [str(t.pk) for t in (a, d, b, c)]


def test_move_writes_one_row(api: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a, b, c = TaskFactory.create_batch(3)
    api.get(URL)  # refresh the key's last_used_at now, not during the measured call

    with CaptureQueriesContext(connection) as queries:
        assert move(api, c, after_id=a, before_id=b).status_code == 200

    task_writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")) and "tasks_task" in q["sql"]
    ]
    assert len(task_writes) == 1, task_writes
    assert task_writes[0].lstrip().upper().startswith("UPDATE")


def test_move_to_where_it_already_is_writes_nothing(api: Any) -> None:
    from accounts.models import AuditEvent

    a, b = TaskFactory.create_batch(2)
    assert move(api, b, after_id=a).status_code == 200
    assert column(api, "todo") == [str(a.pk), str(b.pk)]
    assert not AuditEvent.objects.filter(action="task.move").exists()


def test_exhausting_the_gap_respaces_the_column(api: Any) -> None:
    tasks = TaskFactory.create_batch(30)
    first, second = tasks[0], tasks[1]
    expected = [str(t.pk) for t in tasks]

    # Each move puts a task right after `first`, halving the gap before `second` every time.
    for task in reversed(tasks[2:]):
        assert move(api, task, after_id=first, before_id=second).status_code == 200
        expected.remove(str(task.pk))
        expected.insert(1, str(task.pk))
        assert column(api, "todo") == expected

    positions = list(Task.objects.filter(status="todo").values_list("position", flat=True))
    assert len(positions) == len(set(positions)) == 30
    # The column was re-spaced: the gaps are wide again.
    assert min(b - a for a, b in itertools.pairwise(sorted(positions))) > 1


def test_repeated_moves_to_the_top_keep_order(api: Any) -> None:
    tasks = TaskFactory.create_batch(5)
    order = [str(t.pk) for t in tasks]
    for _ in range(3):
        for task in tasks:
            top = column(api, "todo")[0]
            if top == str(task.pk):
                continue
            assert api.post(f"{URL}/{task.pk}/move", {"before_id": top}).status_code == 200
            order.remove(str(task.pk))
            order.insert(0, str(task.pk))
            assert column(api, "todo") == order


def test_move_conflicts(api: Any) -> None:
    a, b, c = TaskFactory.create_batch(3)
    other = TaskFactory(status="done")

    def assert_conflict(response: Any) -> None:
        assert response.status_code == 409, response.content
        assert response.json()["error_code"] == "CONFLICT"

    assert_conflict(move(api, a, after_id=uuid.uuid4()))  # neighbour gone
    gone = TaskFactory()
    gone_id = gone.pk
    gone.delete()
    assert_conflict(api.post(f"{URL}/{a.pk}/move", {"before_id": str(gone_id)}))
    assert_conflict(move(api, a, status="todo", after_id=other))  # neighbour in another column than status
    assert_conflict(move(api, a, status="in_progress", before_id=b))
    assert_conflict(move(api, a, after_id=a))  # next to itself
    assert_conflict(move(api, a, before_id=a))
    assert_conflict(move(api, a, after_id=c, before_id=b))  # neighbours out of order
    assert_conflict(move(api, a, after_id=b, before_id=b))
    assert column(api, "todo") == [str(t.pk) for t in (a, b, c)]
    assert column(api, "done") == [str(other.pk)]


def test_move_validation(api: Any) -> None:
    task = TaskFactory()
    assert_validation_error(api.post(f"{URL}/{task.pk}/move", {"status": "archived"}), "status")
    assert_validation_error(api.post(f"{URL}/{task.pk}/move", {"after_id": "nope"}), "after_id")
    assert_validation_error(api.post(f"{URL}/{task.pk}/move", {"after_id": 5}), "after_id")
    assert_validation_error(api.post(f"{URL}/{task.pk}/move", {"position": 5}), "position")
    assert_validation_error(api.post(f"{URL}/{task.pk}/move", {"status": "todo\x00"}), "status")


def test_write_responses_match_what_a_read_returns(api: Any, user: Any) -> None:
    sponsor = SponsorFactory()
    created = api.post(URL, {"title": "Same", "sponsor_id": sponsor.pk, "assignee": "alice", "status": "done"}).json()
    assert created == api.get(f"{URL}/{created['id']}").json()

    patched = api.patch(f"{URL}/{created['id']}", {"status": "todo", "lead_id": None, "notes": "n"}).json()
    assert patched == api.get(f"{URL}/{created['id']}").json()

    other = TaskFactory()
    moved = move(api, other, after_id=created["id"]).json()
    assert moved == api.get(f"{URL}/{other.pk}").json()


def test_read_and_list_return_external_data_as_json(api: Any) -> None:
    data = {"id": 1, "title": "delectus", "completed": False}
    task = TaskFactory(external_ref="1", external_data=data, enrichment_status="ok", status="todo", priority="high")
    for _ in range(2):  # the second time through each process's compiled query
        assert api.get(f"{URL}/{task.pk}").json()["external_data"] == data
        items = api.get(URL, {"status": "todo", "priority": "high"}).json()["items"]
        assert [item["external_data"] for item in items] == [data]
