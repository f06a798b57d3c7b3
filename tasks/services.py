"""Writes for tasks: create, update, delete and gap-based moves, each audited."""

from __future__ import annotations

import zlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from accounts.actor import Actor
from accounts.services import audit_record
from tasks.models import POSITION_GAP, Task

EDITABLE_FIELDS = (
    "title",
    "description",
    "status",
    "priority",
    "due_at",
    "sponsor",
    "lead",
    "assignee",
    "notes",
    "external_ref",
)


_LOCK_NAMESPACE = 0x7A5C


class TaskConflict(Exception):
    """The request was based on a board that has changed since (e.g. a neighbour is gone)."""


def _clean_title(title: Any) -> str:
    text = str(title or "").strip()
    if not text:
        raise ValidationError({"title": "Title must not be blank."})
    if len(text) > 255:
        raise ValidationError({"title": "Title must be at most 255 characters."})
    return text


def task_columns_lock(*statuses: str) -> None:
    """Serialise position changes within the given status columns until the transaction ends.

    PostgreSQL: transaction-scoped advisory locks, taken in a fixed order so two writers cannot
    deadlock on them. Every writer takes them *before* any row lock on a task: a re-space
    updates every row of a column while holding the column lock, so a writer that held a row
    lock while waiting for the column lock would deadlock with it.
    SQLite: IMMEDIATE transactions already hold the database's write lock.
    """
    _advisory_locks(sorted(set(statuses)), shared=False)


def task_columns_share() -> None:
    """Keep every column's positions still while this transaction writes a task row in place.

    For writers that change a task without moving it (title, notes, due date…). Their row
    update adds an entry to the deferred (status, position) unique index, checked at COMMIT; a
    re-space of that column running meanwhile both waits for this row's lock and holds
    uncommitted positions that this check must wait for: a deadlock (seen once in 60,000
    writes by the soak run). Shared locks on every column, in the same order as the exclusive
    ones, make the re-space wait for such writers to commit instead, while they still run side
    by side with each other. Every column, because the row may change column meanwhile.
    """
    _advisory_locks(sorted(Task.Status.values), shared=True)


def _advisory_locks(statuses: list[str], *, shared: bool) -> None:
    if connection.vendor != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    keys = [zlib.crc32(status.encode()) & 0x7FFFFFFF for status in statuses]
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute(f"SELECT {function}(%s, %s)", [_LOCK_NAMESPACE, key])


def _task_for_update(pk: Any) -> Task:
    """The task row, locked until the transaction ends (relations loaded, only the task locked)."""
    return Task.objects.select_for_update(of=("self",)).select_related("sponsor", "lead", "assignee").get(pk=pk)


def _locked_task(task: Task, *statuses: str) -> Task:
    """Lock the columns of `task` (as the caller saw it) and `statuses`, then re-read the task.

    Raises TaskConflict when the task changed column meanwhile (the caller's view is stale),
    Task.DoesNotExist when it is gone.
    """
    task_columns_lock(task.status, *statuses)
    fresh = _task_for_update(task.pk)
    if fresh.status not in (task.status, *statuses):
        raise TaskConflict("The task was moved to another column meanwhile; reload and retry.")
    return fresh


def task_column_end(status: str, *, exclude: Task | None = None) -> int:
    """A free position after the last task of a column (callers hold the column lock)."""
    qs = Task.objects.filter(status=status)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    top = qs.aggregate(top=Max("position"))["top"]
    return POSITION_GAP if top is None else top + POSITION_GAP


def _respace_column(status: str) -> None:
    """Give every task of a column a fresh, evenly gapped position in one statement."""
    table = connection.ops.quote_name(Task._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET position = s.rn * %s FROM ("  # noqa: S608  (table name is ours)
            f" SELECT id, ROW_NUMBER() OVER (ORDER BY position, id) AS rn FROM {table} WHERE status = %s"
            f") AS s WHERE {table}.id = s.id",
            [POSITION_GAP, status],
        )


def _diff(task: Task, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    changes: dict[str, tuple[Any, Any]] = {}
    for field, new in values.items():
        old = getattr(task, field)
        if old != new:
            changes[field] = (old, new)
    return changes


def _audit_value(value: Any) -> Any:
    return getattr(value, "pk", value) if hasattr(value, "_meta") else value


@transaction.atomic
def task_create(*, actor: Actor, title: str, **fields: Any) -> Task:
    """Create a task at the end of its status column. Raises ValidationError on bad input."""
    unknown = set(fields) - set(EDITABLE_FIELDS) - {"source", "external_id", "created_by"}
    if unknown:
        raise ValidationError(f"Unknown task fields: {', '.join(sorted(unknown))}")
    task = Task(title=_clean_title(title), **fields)
    if task.created_by_id is None and actor.user is not None:
        task.created_by = actor.user
    now = timezone.now()
    task.created_at = task.updated_at = now
    if task.status == Task.Status.DONE:
        task.completed_at = now
    task.full_clean(exclude=["position", "id"], validate_unique=False, validate_constraints=False)
    task_columns_lock(task.status)
    task.position = task_column_end(task.status)
    task.save(force_insert=True)
    audit_record(
        actor=actor,
        action="task.create",
        obj=task,
        changes={f: (None, _audit_value(getattr(task, f))) for f in ("title", "status", "priority", "due_at")},
    )
    return task


@transaction.atomic
def task_update(*, task: Task, actor: Actor, **values: Any) -> Task:
    """Apply a partial update. A status change moves the task to the end of its new column.

    Returns the task; writes nothing (and audits nothing) when no value actually changes.
    """
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown task fields: {', '.join(sorted(unknown))}")
    if "title" in values:
        values["title"] = _clean_title(values["title"])
    if "status" in values:
        task = _locked_task(task, values["status"])
    else:
        task_columns_share()
        task = _task_for_update(task.pk)
    changes = _diff(task, values)
    if not changes:
        return task
    new_status = values.get("status", task.status)
    for field, (_, new) in changes.items():
        if field != "status":
            setattr(task, field, new)
    if new_status != task.status:
        old_status, old_position = task.status, task.position
        task.set_status(new_status)
        task.position = task_column_end(new_status, exclude=task)
        changes["position"] = (old_position, task.position)
        changes["status"] = (old_status, new_status)
    task.updated_at = timezone.now()
    task.full_clean(exclude=["id"], validate_unique=False, validate_constraints=False)
    task.save()
    audit_record(
        actor=actor,
        action="task.update",
        obj=task,
        changes={k: (_audit_value(b), _audit_value(a)) for k, (b, a) in changes.items()},
    )
    return task


@transaction.atomic
def task_delete(*, task: Task, actor: Actor) -> None:
    """Delete a task and audit what it was."""
    snapshot = {"title": (task.title, None), "status": (task.status, None), "source": (task.source, None)}
    audit_record(actor=actor, action="task.delete", obj=task, changes=snapshot)
    task.delete()


def _position_between(low: int | None, high: int | None) -> int | None:
    if low is None and high is None:
        return POSITION_GAP
    if low is None:
        return high - POSITION_GAP
    if high is None:
        return low + POSITION_GAP
    if high - low < 2:
        return None
    return (low + high) // 2


def _neighbour_bounds(
    *, task: Task, status: str, after: Task | None, before: Task | None
) -> tuple[int | None, int | None]:
    """The positions the task must go strictly between (None: open end of the column).

    With both neighbours the task goes right after `after`: on a filtered board two visible
    neighbours need not be adjacent in the whole column, and the slot just after `after` is
    always between the two.
    """
    column = Task.objects.filter(status=status).exclude(pk=task.pk)
    if after is not None:
        if before is not None and after.position >= before.position:
            raise TaskConflict("The task given as 'after' does not come before the task given as 'before'.")
        high = column.filter(position__gt=after.position).aggregate(p=Min("position"))["p"]
        return after.position, high
    if before is not None:
        low = column.filter(position__lt=before.position).aggregate(p=Max("position"))["p"]
        return low, before.position
    return column.aggregate(p=Max("position"))["p"], None


def _already_between(task: Task, status: str, low: int | None, high: int | None) -> bool:
    return task.status == status and (low is None or low < task.position) and (high is None or task.position < high)


def _fresh_neighbours(after: Task | None, before: Task | None) -> tuple[Task | None, Task | None]:
    ids = [n.pk for n in (after, before) if n is not None]
    fresh = Task.objects.in_bulk(ids) if ids else {}
    if len(fresh) != len(set(ids)):
        raise TaskConflict("A neighbour task no longer exists; reload the board.")
    return (fresh[after.pk] if after is not None else None, fresh[before.pk] if before is not None else None)


@transaction.atomic
def task_move(
    *,
    task: Task,
    actor: Actor,
    after: Task | None = None,
    before: Task | None = None,
    status: str | None = None,
) -> Task:
    """Place `task` between two neighbours (either may be omitted) in a status column.

    Writes one row, unless the gap between the neighbours is used up: then the column is
    re-spaced in one statement first; writes nothing when the task is already there.
    Returns the task. Raises TaskConflict if a neighbour is the task itself, is gone, is in
    another column, or the neighbours are out of order; ValidationError on a bad status.
    """
    target = status or (after.status if after else before.status if before else task.status)
    if target not in Task.Status.values:
        raise ValidationError({"status": f"Unknown status {target!r}."})
    for neighbour in (after, before):
        if neighbour is not None and neighbour.pk == task.pk:
            raise TaskConflict("A task cannot be placed next to itself.")
    task = _locked_task(task, target)
    # Re-read the neighbours under the lock: the board may have changed since the client saw it.
    after, before = _fresh_neighbours(after, before)
    for neighbour in (after, before):
        if neighbour is not None and neighbour.status != target:
            raise TaskConflict("A neighbour task is not in the target column; reload the board.")
    low, high = _neighbour_bounds(task=task, status=target, after=after, before=before)
    if _already_between(task, target, low, high):
        return task
    position = _position_between(low, high)
    if position is None:
        _respace_column(target)
        task.refresh_from_db(fields=["position"])
        after, before = _fresh_neighbours(after, before)
        low, high = _neighbour_bounds(task=task, status=target, after=after, before=before)
        if _already_between(task, target, low, high):
            return task
        position = _position_between(low, high)
    changes: dict[str, tuple[Any, Any]] = {}
    if target != task.status:
        changes["status"] = (task.status, target)
        task.set_status(target)
    changes["position"] = (task.position, position)
    task.position = position
    task.updated_at = timezone.now()
    task.save(update_fields=["status", "position", "completed_at", "updated_at"])
    audit_record(actor=actor, action="task.move", obj=task, changes=changes)
    return task
