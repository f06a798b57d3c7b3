"""The per-sponsor task pull: plan each upstream record against the task and its sync baseline,
then write in bounded batches (one read per batch; writes only for what actually changed).

Rules (see `sponsors.pull_plan.plan_fields`):
- The baseline (Task.sync_baseline) is what upstream said at the last pull.
- Upstream unchanged since the baseline: the local value is kept, edited or not.
- Upstream changed and the local value did not: upstream is applied.
- Both changed (a conflict, recorded on the run): upstream wins for the record's content and
  schedule (title, description, due date, link); local wins for the team's workflow (status,
  priority), which is what people change here.
- The assignee is the user whose e-mail (case-insensitively) is the one the platform names
  (Salesforce's owner, Asana's assignee, the event's organizer), with the same baseline rules;
  a platform person who is no user here leaves the task unassigned, and its reminders then go
  to the sponsor's owner (tasks.reminders.recipient_of).
- Notes and the other local fields are never touched by a pull.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.fields.json import KT
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import AuditEvent
from accounts.selectors import user_ids_by_email
from integrations.connectors.base import ExternalTask, Page
from integrations.models import SyncRun
from integrations.seen_ids import SeenIds
from integrations.services import SyncRunLog
from sponsors.models import Sponsor
from sponsors.pull_insert import insert_task_rows, new_uuids
from sponsors.pull_plan import (
    ASSIGNEE,
    SIG_KEY,
    SYNCED_FIELDS,
    baseline_of,
    from_jsonable,
    local_values,
    plan_fields,
    signature,
    upstream_values,
)
from tasks.models import POSITION_GAP, Task
from tasks.services import task_column_end, task_columns_lock, task_columns_share

BATCH_SIZE = 2000
STATUS_VALUES = frozenset(Task.Status.values)
PRIORITY_VALUES = frozenset(Task.Priority.values)
LOAD_FIELDS = (
    "id",
    "source",
    "external_id",
    "sponsor_id",
    "assignee_id",
    *SYNCED_FIELDS,
    "sync_baseline",
    "removed_at",
    "position",
    "completed_at",
)


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class TaskPuller:
    """Applies the pages of one pull to one sponsor's tasks of one source."""

    def __init__(
        self,
        *,
        sponsor: Sponsor,
        source: str,
        label: str,
        log: SyncRunLog,
        actor: Actor,
        on_page: Callable[[SyncRun], None] | None = None,
    ) -> None:
        self.on_page = on_page
        self.sponsor = sponsor
        self.source = source
        self.label = label
        self.log = log
        self.actor = actor
        # The only state that grows with the pull: the ids seen, to find removals at the end
        # (about 8 bytes each).
        self.seen = SeenIds()

    # --- pages ---------------------------------------------------------------------------
    def apply_pages(self, pages: Iterable[Page]) -> tuple[str | None, bool]:
        """Apply every page; returns (the last page's next cursor, whether the pull was full)."""
        next_cursor: str | None = None
        full = True
        for page in pages:
            full = full and page.full
            self.log.add(fetched=len(page.records) + len(page.errors) + len(page.removed_ids), pages=1)
            for error in page.errors:
                if error.external_id:
                    self.seen.add(error.external_id)  # a broken record is not a removed one
                self.log.error(message=error.message, external_id=error.external_id, detail=error.raw)
            for chunk in _chunks(self._dedupe(page.records), BATCH_SIZE):
                self._apply_batch(chunk)
            if page.removed_ids:
                self.mark_removed(page.removed_ids)
            if page.next_cursor:
                next_cursor = page.next_cursor
            self.log.flush()
            if self.on_page is not None:
                self.on_page(self.log.run)
        return next_cursor, full

    def _dedupe(self, records: list[ExternalTask]) -> list[ExternalTask]:
        unique: dict[str, ExternalTask] = {}
        for record in records:
            unique[record.external_id] = record
            self.seen.add(record.external_id)
        return list(unique.values())

    # --- one batch -----------------------------------------------------------------------
    def _apply_batch(self, records: list[ExternalTask]) -> None:
        for attempt in (1, 2):
            try:
                self._apply_batch_once(records)
                return
            except IntegrityError:
                # Another sponsor's pull created one of these ids at the same moment: re-plan
                # (it now shows up as someone else's task and fails alone).
                if attempt == 2:
                    for record in records:
                        self.log.error(
                            message="Could not be written (conflicting write).", external_id=record.external_id
                        )

    def _existing(self, ids: list[str], *, for_update: bool = False) -> dict[str, dict[str, Any]]:
        """The tasks of these ids as plain rows with every field the plan needs."""
        qs = Task.objects.filter(source=self.source, external_id__in=ids)
        if for_update:
            qs = qs.select_for_update(of=("self",))  # not the assignee joined for its e-mail
        rows = qs.values(*LOAD_FIELDS, **{ASSIGNEE: Lower("assignee__email")})
        return {row["external_id"]: row for row in rows}

    def _glance(self, ids: list[str]) -> dict[str, tuple[Any, ...]]:
        """Just enough of the tasks of these ids to tell an unchanged record at a glance:
        (id, sponsor_id, removed_at, baseline signature) — no JSON decoded, no model built."""
        qs = (
            Task.objects.filter(source=self.source, external_id__in=ids)
            .annotate(baseline_sig=KT(f"sync_baseline__{SIG_KEY}"))
            .values_list("external_id", "id", "sponsor_id", "removed_at", "baseline_sig")
        )
        return {row[0]: row[1:] for row in qs}

    def _valid(self, record: ExternalTask, upstream: dict[str, Any]) -> bool:
        if record.status in STATUS_VALUES and upstream.get("priority", "low") in PRIORITY_VALUES:
            return True
        self.log.error(message="Unknown status or priority after mapping.", external_id=record.external_id)
        return False

    def _foreign(self, record: ExternalTask, task_id: Any, sponsor_id: int | None) -> None:
        owner = f"sponsor #{sponsor_id}" if sponsor_id else "no sponsor (unlinked by a person)"
        self.log.error(
            message=f"This {self.label} record is already pulled as a task of {owner}; left alone.",
            external_id=record.external_id,
            detail={"task_id": str(task_id), "sponsor_id": sponsor_id},
        )

    def _plan(self, record: ExternalTask, task: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        """On a full (locked) row: ("create" | "update" | "unchanged" | "foreign" | "invalid",
        changes). Logs errors and conflicts."""
        upstream = upstream_values(record)
        if not self._valid(record, upstream):
            return "invalid", {}
        if task is None:
            return "create", upstream
        if task["sponsor_id"] != self.sponsor.pk:
            self._foreign(record, task["id"], task["sponsor_id"])
            return "foreign", {}
        changes, conflicts = plan_fields(local=local_values(task), baseline=task["sync_baseline"], upstream=upstream)
        for conflict in conflicts:
            self.log.conflict(
                external_id=record.external_id,
                message=f"{conflict['field']} changed here and in {self.label}; kept the {conflict['kept']} value.",
                detail={"task_id": str(task["id"]), **conflict},
            )
        if changes or task["removed_at"] is not None or task["sync_baseline"] != baseline_of(upstream):
            return "update", changes
        return "unchanged", {}

    def _apply_batch_once(self, records: list[ExternalTask]) -> None:
        """Glance at the batch's tasks; only records that are new or changed since the baseline
        go on to the write (where they are planned on locked rows)."""
        glance = self._glance([r.external_id for r in records])
        pending: list[tuple[ExternalTask, str]] = []
        unchanged = 0
        for record in records:
            upstream = upstream_values(record)
            if not self._valid(record, upstream):
                continue
            seen = glance.get(record.external_id)
            if seen is None:
                pending.append((record, "create"))
                continue
            task_id, sponsor_id, removed_at, baseline_sig = seen
            if sponsor_id != self.sponsor.pk:
                self._foreign(record, task_id, sponsor_id)
            elif removed_at is None and baseline_sig == signature(upstream):
                unchanged += 1  # upstream unchanged since the last pull: local values stand
            else:
                pending.append((record, "update"))
        if pending:
            created, updated, baseline_only = self._write(pending)
        else:
            created = updated = baseline_only = 0
        self.log.add(created=created, updated=updated, unchanged=unchanged + baseline_only)

    @transaction.atomic
    def _write(self, pending: list[tuple[ExternalTask, str]]) -> tuple[int, int, int]:
        """Create and update. Updates are planned again on the locked rows, so a person's edit
        made meanwhile is not lost; a create that someone else made meanwhile fails the insert
        (IntegrityError: the caller plans the batch again). Returns (created, updated,
        unchanged) where unchanged includes rows whose only write is the new baseline."""
        now = timezone.now()
        # Column locks before any row lock, as every task writer takes them (tasks/services.py):
        # a person's edit holds its shared column locks while it waits for a row this batch
        # would otherwise have locked first.
        task_columns_lock(*Task.Status.values)
        update_ids = [record.external_id for record, action in pending if action == "update"]
        locked = self._existing(update_ids, for_update=True) if update_ids else {}
        plans = []
        unchanged = 0
        for record, first_action in pending:
            row = locked.get(record.external_id)
            if first_action == "create":
                action, changes = "create", upstream_values(record)
            else:
                action, changes = self._plan(record, row)
            if action in ("create", "update"):
                plans.append((record, row, action, changes))
            elif action == "unchanged":
                unchanged += 1
        statuses = {c["status"] for _, _, a, c in plans if "status" in c}
        ends: dict[str, int] = {}
        if statuses:
            task_columns_lock(*statuses)
            ends = {status: task_column_end(status) for status in statuses}

        def next_position(status: str) -> int:
            position = ends[status]
            ends[status] += POSITION_GAP
            return position

        # The users the platform's people are, in one query for the batch.
        user_ids = user_ids_by_email(c[ASSIGNEE] for _, _, _, c in plans if c.get(ASSIGNEE))
        new_ids = iter(new_uuids(sum(1 for plan in plans if plan[2] == "create")))
        new_rows: list[dict[str, Any]] = []
        changed: dict[tuple[str, ...], list[Task]] = {}
        audits: list[AuditEvent] = []
        baseline_only = unchanged
        for record, row, action, values in plans:
            upstream = upstream_values(record)
            if action == "create":
                status = values["status"]
                new_rows.append(
                    {
                        "id": next(new_ids),
                        "title": values["title"],
                        "description": values["description"],
                        "status": status,
                        "priority": values.get("priority", Task.Priority.MEDIUM),
                        "due_at": record.due_at,
                        "external_url": values["external_url"],
                        "source": self.source,
                        "external_id": record.external_id,
                        "sponsor_id": self.sponsor.pk,
                        "assignee_id": user_ids.get(values.get(ASSIGNEE, "")),
                        "position": next_position(status),
                        "sync_baseline": baseline_of(upstream),
                        "synced_at": now,
                        "created_at": now,
                        "updated_at": now,
                        "completed_at": now if status == Task.Status.DONE else None,
                    }
                )
                continue
            assert row is not None
            task = Task(**{name: row[name] for name in LOAD_FIELDS})
            fields = ["sync_baseline", "synced_at"]
            audit: dict[str, list[Any]] = {}
            local = local_values(row)
            for field, value in values.items():
                if field in ("status", ASSIGNEE):
                    continue
                audit[field] = [local[field], value]
                setattr(task, field, from_jsonable(field, value))
                fields.append(field)
            if ASSIGNEE in values and user_ids.get(values[ASSIGNEE]) != task.assignee_id:
                audit["assignee"] = [task.assignee_id, user_ids.get(values[ASSIGNEE])]
                task.assignee_id = user_ids.get(values[ASSIGNEE])
                fields.append("assignee")
            if "status" in values:
                audit["status"] = [task.status, values["status"]]
                old_position = task.position
                task.set_status(values["status"], now=now)
                task.position = next_position(values["status"])
                audit["position"] = [old_position, task.position]
                fields += ["status", "position", "completed_at"]
            if task.removed_at is not None:
                audit["removed_at"] = [task.removed_at.isoformat(), None]
                task.removed_at = None
                fields.append("removed_at")
            task.sync_baseline = baseline_of(upstream)
            task.synced_at = now
            if audit:
                task.updated_at = now
                fields.append("updated_at")
                audits.append(self._audit_event("task.sync_update", task, audit, now))
            else:
                baseline_only += 1
            changed.setdefault(tuple(fields), []).append(task)
        if new_rows:
            insert_task_rows(new_rows)
        for fields, tasks in changed.items():
            Task.objects.bulk_update(tasks, fields=list(fields), batch_size=500)
        if audits:
            AuditEvent.objects.bulk_create(audits, batch_size=500)
        updated = sum(len(tasks) for tasks in changed.values()) - (baseline_only - unchanged)
        return len(new_rows), updated, baseline_only

    def _audit_event(self, action: str, task: Task, changes: dict[str, list[Any]], now: dt.datetime) -> AuditEvent:
        return AuditEvent(
            created_at=now,
            actor_label=self.actor.label[:200],
            action=action,
            object_type=Task._meta.label_lower,
            object_id=str(task.pk),
            object_repr=str(task.title)[:255],
            changes=changes,
            origin=self.actor.origin,
        )

    # --- removals ------------------------------------------------------------------------
    def mark_removed_absent(self) -> int:
        """After a complete full pull: mark this sponsor's tasks of this source that upstream
        no longer lists. Streams the ids; returns how many were marked."""
        ids = (
            Task.objects.filter(source=self.source, sponsor=self.sponsor, removed_at__isnull=True)
            .values_list("external_id", flat=True)
            .order_by()
        )
        gone = [external_id for external_id in ids.iterator(chunk_size=5000) if external_id not in self.seen]
        return self.mark_removed(gone)

    def mark_removed(self, external_ids: list[str]) -> int:
        """Mark these records removed upstream (kept, with removed_at set); only this sponsor's."""
        total = 0
        for chunk in _chunks(external_ids, BATCH_SIZE):
            total += self._mark_removed_batch(chunk)
        self.log.add(removed=total)
        return total

    @transaction.atomic
    def _mark_removed_batch(self, external_ids: list[str]) -> int:
        now = timezone.now()
        task_columns_share()  # before the row locks (tasks/services.py)
        qs = Task.objects.select_for_update().filter(
            source=self.source, sponsor=self.sponsor, external_id__in=external_ids, removed_at__isnull=True
        )
        rows = list(qs.values_list("id", "title"))
        if not rows:
            return 0
        Task.objects.filter(pk__in=[pk for pk, _ in rows]).update(removed_at=now, updated_at=now)
        events = []
        for pk, title in rows:
            task = Task(pk=pk, title=title)
            events.append(self._audit_event("task.sync_remove", task, {"removed_at": [None, now.isoformat()]}, now))
        AuditEvent.objects.bulk_create(events, batch_size=500)
        return len(rows)
