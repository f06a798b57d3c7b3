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
)


class TaskConflict(Exception):
    """The request was based on a board that has changed since (e.g. a neighbour is gone)."""


def _clean_title(title: Any) -> str:
    text = str(title or "").strip()
    if not text:
        raise ValidationError({"title": "Title must not be blank."})
    if len(text) > 255:
        raise ValidationError({"title": "Title must be at most 255 characters."})
    return text


def _lock_columns(*statuses: str) -> None:
    """Serialise position changes within the given status columns until the transaction ends.

    PostgreSQL: transaction-scoped advisory locks, taken in a fixed order so two moves between
    the same columns cannot deadlock. SQLite: IMMEDIATE transactions already hold the write lock.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for status in sorted(set(statuses)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x7A5C, zlib.crc32(status.encode()) & 0x7FFFFFFF])


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
    unknown = set(fields) - set(EDITABLE_FIELDS) - {"source", "external_id", "external_ref", "created_by"}
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
    _lock_columns(task.status)
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
    task = Task.objects.select_for_update().get(pk=task.pk)
    changes = _diff(task, values)
    if not changes:
        return task
    new_status = values.get("status", task.status)
    for field, (_, new) in changes.items():
        if field != "status":
            setattr(task, field, new)
    if new_status != task.status:
        old_status, old_position = task.status, task.position
        _lock_columns(old_status, new_status)
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
    column = Task.objects.filter(status=status).exclude(pk=task.pk)
    if after is not None and before is not None:
        if after.position >= before.position:
            raise TaskConflict("The task given as 'after' does not come before the task given as 'before'.")
        return after.position, before.position
    if after is not None:
        high = column.filter(position__gt=after.position).aggregate(p=Min("position"))["p"]
        return after.position, high
    if before is not None:
        low = column.filter(position__lt=before.position).aggregate(p=Max("position"))["p"]
        return low, before.position
    return column.aggregate(p=Max("position"))["p"], None


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
    re-spaced in one statement first. Raises TaskConflict if a neighbour is the task itself,
    is in another column, or the neighbours are out of order; ValidationError on a bad status.
    """
    target = status or (after.status if after else before.status if before else task.status)
    if target not in Task.Status.values:
        raise ValidationError({"status": f"Unknown status {target!r}."})
    for neighbour in (after, before):
        if neighbour is not None and neighbour.pk == task.pk:
            raise TaskConflict("A task cannot be placed next to itself.")
    task = Task.objects.select_for_update().get(pk=task.pk)
    _lock_columns(task.status, target)
    # Re-read the neighbours under the lock: the board may have changed since the client saw it.
    ids = [n.pk for n in (after, before) if n is not None]
    fresh = {t.pk: t for t in Task.objects.filter(pk__in=ids)}
    after = fresh.get(after.pk) if after is not None else None
    before = fresh.get(before.pk) if before is not None else None
    if len(fresh) != len(ids):
        raise TaskConflict("A neighbour task no longer exists; reload the board.")
    for neighbour in (after, before):
        if neighbour is not None and neighbour.status != target:
            raise TaskConflict("A neighbour task is not in the target column; reload the board.")
    low, high = _neighbour_bounds(task=task, status=target, after=after, before=before)
    position = _position_between(low, high)
    if position is None:
        _respace_column(target)
        ids = [n.pk for n in (after, before) if n is not None]
        fresh = {t.pk: t for t in Task.objects.filter(pk__in=ids)}
        after = fresh.get(after.pk) if after is not None else None
        before = fresh.get(before.pk) if before is not None else None
        low, high = _neighbour_bounds(task=task, status=target, after=after, before=before)
        position = _position_between(low, high)
    changes: dict[str, tuple[Any, Any]] = {}
    if target != task.status:
        changes["status"] = (task.status, target)
        task.set_status(target)
    if position != task.position:
        changes["position"] = (task.position, position)
        task.position = position
    if not changes:
        return task
    task.updated_at = timezone.now()
    task.save(update_fields=["status", "position", "completed_at", "updated_at"])
    audit_record(actor=actor, action="task.move", obj=task, changes=changes)
    return task
