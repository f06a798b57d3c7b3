"""Reads for tasks, shared by the dashboard and the API (relations preloaded: no N+1)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from django.db import connections
from django.db.models import F, QuerySet

from accounts.models import AuditEvent
from tasks.models import Task

ORDERINGS = {
    "position": ("status", "position", "id"),
    "due_at": ("due_at", "position", "id"),
    "-updated_at": ("-updated_at", "id"),
    "priority": ("priority_rank", "position", "id"),
    "-due_at": ("-due_at", "id"),
    "title": ("title", "id"),
    "-created_at": ("-created_at", "id"),
}


@dataclass(frozen=True)
class TaskFilters:
    """The filters of the task list, as the API and the dashboard list page accept them."""

    status: str | None = None
    priority: str | None = None
    source: str | None = None
    sponsor_id: int | None = None
    lead_id: int | None = None
    assignee: str | None = None
    due_before: dt.datetime | None = None
    due_after: dt.datetime | None = None
    overdue: bool | None = None
    q: str | None = None
    order: str = "position"

    def is_filtered(self) -> bool:
        return any(getattr(self, f.name) not in (None, "") for f in fields(self) if f.name != "order")


def task_base_queryset() -> QuerySet[Task]:
    return Task.objects.select_related("assignee", "sponsor", "lead")


def task_list(*, filters: TaskFilters) -> QuerySet[Task]:
    """Tasks matching `filters`, ordered as asked (unknown order falls back to position)."""
    qs = task_base_queryset()
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.priority:
        qs = qs.filter(priority=filters.priority)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.sponsor_id is not None:
        qs = qs.filter(sponsor_id=filters.sponsor_id)
    if filters.lead_id is not None:
        qs = qs.filter(lead_id=filters.lead_id)
    if filters.assignee:
        qs = qs.filter(assignee__username=filters.assignee)
    if filters.due_before is not None:
        qs = qs.filter(due_at__lt=filters.due_before)
    if filters.due_after is not None:
        qs = qs.filter(due_at__gte=filters.due_after)
    if filters.overdue:
        qs = qs.overdue()
    elif filters.overdue is False:
        qs = qs.exclude(pk__in=Task.objects.overdue().values("pk"))
    if filters.q:
        qs = qs.search(filters.q)
    order = ORDERINGS.get(filters.order, ORDERINGS["position"])
    if "priority_rank" in order:
        qs = qs.with_priority_rank()
    return qs.order_by(*order)


def task_get(*, task_id: object) -> Task:
    """One task with its relations; raises Task.DoesNotExist."""
    return task_base_queryset().get(pk=task_id)


def task_board_columns(*, per_column: int = 200, filters: TaskFilters | None = None) -> dict[str, list[Task]]:
    """The first `per_column` tasks of each status column, in board order (one query per column)."""
    base = task_list(filters=filters or TaskFilters())
    return {
        status: list(base.filter(status=status).order_by("position", "id")[:per_column])
        for status in Task.Status.values
    }


def task_column_counts() -> dict[str, int]:
    from django.db.models import Count

    rows = Task.objects.values("status").annotate(n=Count("id"))
    counts = dict.fromkeys(Task.Status.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def task_history(*, task: Task) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.for_object(task).select_related("actor_user")


# --- The API's reads: plain rows, SQL compiled once per process ---------------------------------
#
# The API answers GET /tasks/{id} and GET /tasks with plain rows (`values()`), never model
# instances. Building and compiling the same queryset on every request cost about a quarter of
# a single read, so a query *shape* (which equality filters, which order) is compiled once per
# process and database connection and then run with new parameters; the SQL is exactly what the
# ORM builds for that shape (see _PreparedRows). Filters whose SQL depends on more than their
# value (dates, search, overdue, assignee) take the ordinary ORM path, with the same output.

API_COLUMNS = (
    "id",
    "title",
    "description",
    "status",
    "priority",
    "due_at",
    "sponsor_id",
    "lead_id",
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
)
# TaskFilters fields whose SQL is `column = value`: they can be parameters of a compiled shape.
_EQUALITY_FILTERS = ("status", "priority", "source", "sponsor_id", "lead_id")
_OTHER_FILTERS = tuple(f.name for f in fields(TaskFilters) if f.name not in _EQUALITY_FILTERS and f.name != "order")
# LIMIT/OFFSET appended as parameters: the same syntax on these backends.
_PREPARED_VENDORS = ("postgresql", "sqlite")
_PREPARED_MAX = 256


def task_api_values(qs: QuerySet[Task]) -> QuerySet[Task]:
    """`qs` as rows of the API's columns plus the assignee's username."""
    return qs.values(*API_COLUMNS, assignee_username=F("assignee__username"))


class _PreparedRows:
    """A values() queryset compiled once; `run` executes its SQL with new parameter values.

    Built from the queryset of one shape with a distinct marker value per parameter: each marker
    (as the field prepares it for this database) must appear exactly once among the SQL's
    parameters, or the shape is refused (ValueError) and the caller uses the ORM; any other
    parameter is a constant of the shape. Rows go through the converters the ORM applies (UUIDs,
    JSON, datetimes). With `count`, the SQL counts the shape's rows instead (no ordering)."""

    def __init__(
        self, qs: QuerySet[Task], markers: Sequence[tuple[str, Any]], *, paged: bool = False, count: bool = False
    ) -> None:
        self.alias = qs.db
        connection = connections[self.alias]
        self.fields = [Task._meta.get_field(name) for name, _ in markers]
        prepared_markers = [
            field.get_db_prep_value(value, connection, prepared=False)
            for field, (_, value) in zip(self.fields, markers, strict=True)
        ]
        if count:
            qs = qs.order_by().values("pk")
        compiler = qs.query.get_compiler(using=self.alias)
        sql, params = compiler.as_sql()
        # Each parameter: ("m", index of its marker) or ("c", constant value).
        self.params: list[tuple[str, Any]] = []
        for param in params:
            hits = [i for i, marker in enumerate(prepared_markers) if type(marker) is type(param) and marker == param]
            self.params.append(("m", hits[0]) if len(hits) == 1 else ("c", param))
        if sorted(i for kind, i in self.params if kind == "m") != list(range(len(markers))):
            raise ValueError("every marker must appear exactly once among the parameters")
        self.paged = paged
        self.count = count
        self.then_rows: list[tuple[Any, ...]] = []
        if count:
            self.sql = f"SELECT COUNT(*) FROM ({sql}) subquery"  # noqa: S608  (the ORM's own SQL)
        else:
            self.sql = sql + (" LIMIT %s OFFSET %s" if paged else "")
            self.names = [*qs.query.extra_select, *qs.query.values_select, *qs.query.annotation_select]
            self.compiler = compiler
            self.converters = compiler.get_converters([col for col, _, _ in compiler.select[: compiler.col_count]])

    def _execute(
        self, values: Sequence[Any], extra: Sequence[Any], columns: str = "", then: tuple[str, list[Any]] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run the SQL; with `then` (PostgreSQL), a second statement in the same round trip, whose
        rows are left in self.then_rows."""
        connection = connections[self.alias]
        prepared = [
            field.get_db_prep_value(value, connection, prepared=False)
            for field, value in zip(self.fields, values, strict=True)
        ]
        params = [prepared[v] if kind == "m" else v for kind, v in self.params]
        params.extend(extra)
        sql = self.sql
        if columns:
            sql = sql.replace("SELECT COUNT(*)", "SELECT COUNT(*)" + columns, 1)
        if then is not None:
            sql = f"{sql}; {then[0]}"
            params.extend(then[1])
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and connection.timezone is not None:
                _fast_timestamptz(cursor)
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            if then is not None:
                cursor.cursor.nextset()
                self.then_rows = cursor.fetchall()
            return rows

    def run(
        self, values: Sequence[Any], *, limit: int = 0, offset: int = 0, then: tuple[str, list[Any]] | None = None
    ) -> list[dict[str, Any]]:
        rows: Any = self._execute(values, (limit, offset) if self.paged else (), then=then)
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in rows]

    def run_count(self, values: Sequence[Any]) -> int:
        return int(self._execute(values, ())[0][0])

    def run_count_with(self, values: Sequence[Any], columns: str) -> tuple[Any, ...]:
        """The count and more columns computed by the same statement (same snapshot)."""
        return self._execute(values, (), columns=columns)[0]


def _fast_timestamptz(cursor: Any) -> None:
    """Load timestamptz columns on this cursor with psycopg's C loader. Django's loader subclasses
    the pure-Python one (about a sixth of a 50-row page's CPU); both return aware datetimes in the
    session time zone, which Django sets to its own (UTC), so the values are the same."""
    from psycopg import adapters
    from psycopg.postgres import types
    from psycopg.pq import Format

    oid = types["timestamptz"].oid
    loader = adapters.get_loader(oid, Format.TEXT)
    if loader is not None:
        cursor.cursor.adapters.register_loader(oid, loader)


# (alias, id(connection), shape) -> _PreparedRows, or None where the shape cannot be prepared.
_prepared: dict[tuple[Any, ...], _PreparedRows | None] = {}


def _prepared_for(shape: tuple[Any, ...], build: Any) -> _PreparedRows | None:
    connection = connections["default"]
    if connection.vendor not in _PREPARED_VENDORS:
        return None
    # The compiled converters are bound to this connection object (one per thread).
    key = ("default", id(connection), *shape)
    if key not in _prepared:
        if len(_prepared) >= _PREPARED_MAX:
            _prepared.clear()
        try:
            _prepared[key] = build()
        except ValueError:
            _prepared[key] = None
    return _prepared[key]


_UUID_MARKER = uuid.UUID("5e1ec7ed-0000-4000-8000-00000000c0de")


def task_api_get(*, task_id: uuid.UUID) -> dict[str, Any] | None:
    """The API row of one task (see API_COLUMNS), or None if there is no such task."""
    prepared = _prepared_for(
        ("get",),
        lambda: _PreparedRows(
            task_api_values(Task.objects.filter(pk=_UUID_MARKER)), [("id", _UUID_MARKER)], paged=False
        ),
    )
    if prepared is None:
        rows = list(task_api_values(Task.objects.filter(pk=task_id)))
    else:
        rows = prepared.run([task_id])
    return rows[0] if rows else None


def _equality_markers(names: Sequence[str]) -> list[tuple[str, Any]]:
    markers: list[tuple[str, Any]] = []
    for n, name in enumerate(names):
        value: Any = -(10**12) - n if name.endswith("_id") else f"\x01marker-{name}-{n}"
        markers.append((name, value))
    return markers


class _CountCache:
    """Counts of the prepared list shapes, per process, trusted only while provably current.

    PostgreSQL only. Every statement writing tasks_task records its transaction id in
    tasks_task_write, in the same transaction (a trigger; migration 0004), so a transaction's
    row is visible exactly when its writes are. A count is stored with the snapshot it was
    computed in (xmax and the ids in progress, xip). Later the count still holds if no writer
    visible now was invisible then: the newest visible writer is below xmax and none of the
    writers visible now was in progress then. Otherwise it is recounted. A count computed inside
    a transaction that has written anything itself is never stored (its own writes are not
    committed). One index look-up replaces counting thousands of index entries."""

    MAX = 512
    CHECK_SQL = (
        "SELECT (SELECT max(xid) FROM tasks_task_write), "
        "EXISTS (SELECT 1 FROM tasks_task_write WHERE xid = ANY(%s::bigint[]))"
    )
    # Computed by the counting statement itself, so they describe the snapshot it counted in.
    SNAPSHOT_COLUMNS = ", pg_current_snapshot()::text, pg_current_xact_id_if_assigned() IS NULL"

    def __init__(self) -> None:
        self.entries: dict[tuple[Any, ...], tuple[int, list[int], int]] = {}
        self.enabled: dict[int, bool] = {}

    def usable(self) -> bool:
        connection = connections["default"]
        if connection.vendor != "postgresql":
            return False
        key = id(connection)
        if key not in self.enabled:
            with connection.cursor() as cursor:
                cursor.execute("SELECT to_regclass('tasks_task_write') IS NOT NULL")
                self.enabled[key] = bool(cursor.fetchone()[0])
        return self.enabled[key]

    def check_statement(self, key: tuple[Any, ...]) -> tuple[str, list[Any]] | None:
        """The statement telling whether the cached count of `key` still holds (None: no entry);
        the list page sends it in the same round trip as its rows."""
        entry = self.entries.get(key)
        return None if entry is None else (self.CHECK_SQL, [entry[1]])

    def get(self, key: tuple[Any, ...], check_rows: list[tuple[Any, ...]]) -> int | None:
        """The cached count of `key` if the check statement's result shows it still holds."""
        entry = self.entries.get(key)
        if entry is None or not check_rows:
            return None
        xmax, _, count = entry
        latest, new_writer_was_in_progress = check_rows[0]
        if latest is None or latest >= xmax or new_writer_was_in_progress:
            return None
        return count

    def count(
        self, key: tuple[Any, ...], prepared: _PreparedRows, values: Sequence[Any], check_rows: list[Any] | None
    ) -> int:
        if check_rows is None and (check := self.check_statement(key)) is not None:
            with connections["default"].cursor() as cursor:
                cursor.execute(*check)
                check_rows = cursor.fetchall()
        cached = self.get(key, check_rows or [])
        if cached is not None:
            return cached
        count, snapshot, no_own_writes = prepared.run_count_with(values, self.SNAPSHOT_COLUMNS)
        if no_own_writes:
            _, xmax, xip = snapshot.split(":")
            if len(self.entries) >= self.MAX:
                self.entries.clear()
            self.entries[key] = (int(xmax), [int(x) for x in xip.split(",") if x], int(count))
        return int(count)


_counts = _CountCache()


def task_api_page(*, filters: TaskFilters, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """One page of API rows for `filters`, in the asked order, and the number of matches."""
    used = [name for name in _EQUALITY_FILTERS if getattr(filters, name) not in (None, "")]
    rows_sql = count_sql = None
    if not any(getattr(filters, name) not in (None, "") for name in _OTHER_FILTERS):
        markers = _equality_markers(used)

        def shape() -> QuerySet[Task]:
            return task_list(filters=replace(TaskFilters(order=filters.order), **dict(markers)))

        rows_sql = _prepared_for(
            ("page", filters.order, *used), lambda: _PreparedRows(task_api_values(shape()), markers, paged=True)
        )
        count_sql = _prepared_for(("count", *used), lambda: _PreparedRows(shape(), markers, count=True))
    values = [getattr(filters, name) for name in used]
    check_rows = None
    if rows_sql is None:
        qs = task_list(filters=filters)
        rows = list(task_api_values(qs)[offset : offset + limit])
    elif count_sql is not None and _counts.usable():
        # The cached count's validity check rides along with the rows: one round trip.
        check = _counts.check_statement((*used, *values))
        rows = rows_sql.run(values, limit=limit, offset=offset, then=check)
        check_rows = rows_sql.then_rows if check is not None else None
    else:
        rows = rows_sql.run(values, limit=limit, offset=offset)
    if (offset == 0 or rows) and len(rows) < limit:
        # The last page: the count is known without counting.
        return rows, offset + len(rows)
    if count_sql is None:
        return rows, task_list(filters=filters).count()
    if not _counts.usable():
        return rows, count_sql.run_count(values)
    return rows, _counts.count((*used, *values), count_sql, values, check_rows)
