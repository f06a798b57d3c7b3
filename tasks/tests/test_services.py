"""Task services: audit, no-op updates, gap ordering, and positions under concurrent writers."""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.actor import Actor
from accounts.models import AuditEvent
from tasks import services
from tasks.models import POSITION_GAP, Task
from tasks.tests.factories import TaskFactory


def positions_are_unique() -> bool:
    rows = Counter(Task.objects.values_list("status", "position"))
    return all(n == 1 for n in rows.values())


def board(status: str) -> list[Any]:
    return list(Task.objects.filter(status=status).order_by("position", "id").values_list("pk", flat=True))


@pytest.mark.django_db
class TestServices:
    def test_create_audits_and_sets_creator(self, actor: Actor, user: Any) -> None:
        task = services.task_create(actor=actor, title="  Plan  ", priority="high")

        assert task.title == "Plan" and task.created_by == user
        event = AuditEvent.objects.get(action="task.create")
        assert event.object_id == str(task.pk)
        assert event.changes["title"] == [None, "Plan"]
        assert event.actor_label == "alice" and event.origin == "web"

    def test_create_rejects_blank_title_and_unknown_fields(self, actor: Actor) -> None:
        with pytest.raises(ValidationError):
            services.task_create(actor=actor, title="   ")
        with pytest.raises(ValidationError):
            services.task_create(actor=actor, title="ok", position=5)
        assert not Task.objects.exists()

    def test_update_without_change_writes_nothing(self, actor: Actor) -> None:
        task = TaskFactory(title="Same")
        with CaptureQueriesContext(connection) as queries:
            services.task_update(task=task, actor=actor, title="Same", priority=task.priority)
        assert not [q for q in queries.captured_queries if q["sql"].upper().startswith(("UPDATE", "INSERT"))]
        assert not AuditEvent.objects.exists()

    def test_update_records_before_and_after(self, actor: Actor) -> None:
        task = TaskFactory(title="Old", priority="low")
        services.task_update(task=task, actor=actor, title="New", priority="high")
        event = AuditEvent.objects.get(action="task.update")
        assert event.changes == {"title": ["Old", "New"], "priority": ["low", "high"]}

    def test_update_with_a_stale_status_is_a_conflict(self, actor: Actor) -> None:
        task = TaskFactory(status="todo")
        stale = Task.objects.get(pk=task.pk)
        services.task_update(task=task, actor=actor, status="done")
        stale.status = "in_progress"  # the caller believes something else again
        with pytest.raises(services.TaskConflict):
            services.task_update(task=stale, actor=actor, status="todo")

    def test_move_audits_status_and_position(self, actor: Actor) -> None:
        a = TaskFactory()
        b = TaskFactory(status="done")
        moved = services.task_move(task=a, actor=actor, before=b)
        assert moved.status == "done" and moved.completed_at is not None
        event = AuditEvent.objects.get(action="task.move")
        assert event.changes["status"] == ["todo", "done"]
        assert event.changes["position"][0] == a.position

    def test_respace_is_one_statement_and_keeps_order(self, actor: Actor) -> None:
        a = TaskFactory(position=10)
        b = TaskFactory(position=11)
        rest = [TaskFactory(position=12 + i) for i in range(50)]
        mover = rest[-1]

        with CaptureQueriesContext(connection) as queries:
            services.task_move(task=mover, actor=actor, after=a, before=b)

        updates = [q["sql"] for q in queries.captured_queries if q["sql"].upper().startswith("UPDATE")]
        assert len(updates) == 2, updates  # the re-space, then the moved row
        assert board("todo") == [a.pk, mover.pk, b.pk, *[t.pk for t in rest[:-1]]]
        assert positions_are_unique()
        positions = sorted(Task.objects.values_list("position", flat=True))
        assert min(y - x for x, y in itertools.pairwise(positions)) >= POSITION_GAP // 2

    def test_move_after_a_respace_when_the_task_sits_between_its_neighbours(self, actor: Actor) -> None:
        a = TaskFactory(position=1)
        task = TaskFactory(position=2)
        b = TaskFactory(position=3)
        # Already between a and b: nothing to do, nothing written.
        services.task_move(task=task, actor=actor, after=a, before=b)
        assert board("todo") == [a.pk, task.pk, b.pk]
        assert not AuditEvent.objects.exists()

    def test_move_rejects_unknown_status(self, actor: Actor) -> None:
        with pytest.raises(ValidationError):
            services.task_move(task=TaskFactory(), actor=actor, status="archived")


# --- concurrency (PostgreSQL: real row locks, advisory locks and the deferred constraint) -----


def _run_clients(api_key: str, workers: int, work: Any) -> list[tuple[str, int, bytes]]:
    """Run `work(client, rng, results)` in `workers` threads, each with its own DB connection."""
    results: list[tuple[str, int, bytes]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def run(seed: int) -> None:
        client = Client(HTTP_X_API_KEY=api_key)
        rng = random.Random(seed)
        try:
            start.wait()
            work(client, rng, results)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_and_creates_in_one_column(api_key: str, settings: Any) -> None:
    settings.API_RATE_LIMIT = "0/60"
    # Gaps of 1: nearly every move between two neighbours has to re-space the column.
    initial = [TaskFactory(position=i) for i in range(12)]
    initial_ids = {str(t.pk) for t in initial}

    def work(client: Client, rng: random.Random, results: list[tuple[str, int, bytes]]) -> None:
        for _ in range(15):
            if rng.random() < 0.25:
                response = client.post("/api/v1/tasks", {"title": "new"}, content_type="application/json")
                results.append(("create", response.status_code, response.content))
                continue
            task, after = rng.sample(sorted(initial_ids), 2)
            response = client.post(f"/api/v1/tasks/{task}/move", {"after_id": after}, content_type="application/json")
            results.append(("move", response.status_code, response.content))

    results = _run_clients(api_key, workers=6, work=work)

    assert len(results) == 90
    assert {status for _, status, _ in results} <= {200, 201}, [r for r in results if r[1] not in (200, 201)]
    created = {__import__("json").loads(body)["id"] for kind, _, body in results if kind == "create"}
    in_db = {str(pk) for pk in Task.objects.values_list("pk", flat=True)}
    assert in_db == initial_ids | created
    assert Task.objects.filter(status="todo").count() == len(in_db)
    assert positions_are_unique()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_and_status_changes_never_deadlock(api_key: str, settings: Any) -> None:
    """A re-space locks every row of a column; writers must not hold a row lock while waiting for it."""
    settings.API_RATE_LIMIT = "0/60"
    todo = [TaskFactory(position=i) for i in range(10)]
    ids = [str(t.pk) for t in todo]

    def work(client: Client, rng: random.Random, results: list[tuple[str, int, bytes]]) -> None:
        for _ in range(15):
            task, other = rng.sample(ids, 2)
            roll = rng.random()
            if roll < 0.4:
                response = client.post(
                    f"/api/v1/tasks/{task}/move", {"after_id": other}, content_type="application/json"
                )
            elif roll < 0.7:
                status = rng.choice(["todo", "in_progress"])
                response = client.patch(f"/api/v1/tasks/{task}", {"status": status}, content_type="application/json")
            else:
                response = client.post(
                    f"/api/v1/tasks/{task}/move",
                    {"status": rng.choice(["todo", "in_progress"])},
                    content_type="application/json",
                )
            results.append(("op", response.status_code, response.content))

    results = _run_clients(api_key, workers=6, work=work)

    # 409 is a fair answer when a neighbour left the column meanwhile; nothing may fail otherwise.
    assert {status for _, status, _ in results} <= {200, 409}, [r for r in results if r[1] not in (200, 409)]
    assert sum(1 for _, status, _ in results if status == 200) > len(results) // 2
    assert Task.objects.count() == 10
    assert positions_are_unique()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_respace_waits_for_a_plain_edit_at_the_column_lock_not_at_its_row() -> None:
    """A plain edit (no move) holds shared column locks before its row lock; a re-space of that
    column then waits at the column lock, before it locks any row. Were it to lock rows first,
    the edit's COMMIT-time check of the deferred (status, position) constraint would wait for the
    re-space's new positions while the re-space waits for the edit's row: a deadlock."""
    from django.db import transaction

    actor = Actor.system_job("tests")
    task = services.task_create(actor=actor, title="Edited", status="done")
    editing, release, errors = threading.Event(), threading.Event(), []

    def edit() -> None:
        try:
            with transaction.atomic():
                services.task_update(task=task, actor=actor, title="Edited again")
                editing.set()
                release.wait(20)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def respace() -> None:
        try:
            with transaction.atomic():
                services.task_columns_lock("done")
                services._respace_column("done")
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    editor = threading.Thread(target=edit)
    editor.start()
    assert editing.wait(20)
    spacer = threading.Thread(target=respace)
    spacer.start()
    try:
        waiting_on = None
        for _ in range(200):
            with connection.cursor() as cursor:
                cursor.execute("SELECT locktype FROM pg_locks WHERE NOT granted")
                waiting_on = {row[0] for row in cursor.fetchall()}
            if waiting_on:
                break
            threading.Event().wait(0.05)
        assert waiting_on == {"advisory"}, f"the re-space waits on {waiting_on}"
    finally:
        release.set()
        editor.join(30)
        spacer.join(30)
    assert errors == []
    assert Task.objects.get(pk=task.pk).title == "Edited again"
