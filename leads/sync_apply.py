"""Applying a lead sync plan, in three steps so that no edit is lost and a failed write is
redone by the next run:

1. Tracker (one transaction): new leads and tasks, values that came from the sheet, task moves,
   removals, held conflicts. Each lead is re-read under lock first; a lead edited since it
   was planned is left for the next run. Baselines move only for what the sheet already says.
2. The sheet: new rows, the tags of rows added by hand and a missing header in one structural
   batchUpdate, then every changed cell in one values:batchUpdateByDataFilter that finds each
   lead's row by its developer metadata tag, wherever a person has moved it since the read.
3. Tracker again (only after the sheet accepted the write): the baselines of what was
   written, so that reading it back next time is not taken for a change. A lead whose row
   could not be reached (deleted meanwhile) keeps its baseline and is reported on the run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import AuditEvent
from integrations.connectors.google_sheets import (
    CellWrite,
    GoogleSheetsConnector,
    RowWrite,
    WriteResult,
    tags_pending,
)
from integrations.services import SyncRunLog
from leads.models import Lead, LeadConflict
from leads.selectors import lead_states_for_sync
from leads.sync_plan import LeadPlan, Plan, new_task_values
from tasks.models import POSITION_GAP, Task
from tasks.services import task_column_end, task_columns_lock

BATCH = 1000


def _audit(
    actor: Actor, action: str, obj_type: str, pk: Any, label: str, changes: dict[str, Any], now: dt.datetime
) -> AuditEvent:
    return AuditEvent(
        created_at=now,
        actor_label=actor.label[:200],
        action=action,
        object_type=obj_type,
        object_id=str(pk),
        object_repr=str(label)[:255],
        changes=changes,
        origin=actor.origin,
    )


class PlanApplier:
    def __init__(self, *, plan: Plan, log: SyncRunLog, actor: Actor) -> None:
        self.plan = plan
        self.log = log
        self.actor = actor
        self.applied: list[LeadPlan] = []
        self.deferred = 0
        self.tasks_created = 0

    # --- step 1 --------------------------------------------------------------------------
    @transaction.atomic
    def apply_tracker(self) -> None:
        """Write the Tracker side of the plan; fills `applied` with the items still valid."""
        now = timezone.now()
        items = self.plan.items
        statuses = {Task.Status.DONE, Task.Status.TODO, Task.Status.IN_PROGRESS} if items else set()
        if statuses:
            task_columns_lock(*statuses)  # before any row lock (see tasks.services.task_columns_lock)
        existing_pks = [i.lead.pk for i in items if i.lead is not None]
        current = lead_states_for_sync(pks=existing_pks, for_update=True) if existing_pks else {}
        new_ids = [i.sheet_id for i in items if i.lead is None]
        taken = set(Lead.objects.filter(sheet_id__in=new_ids).values_list("sheet_id", flat=True)) if new_ids else set()
        for item in items:
            if item.lead is not None:
                fresh = current.get(item.sheet_id)
                if fresh is None or fresh.observed() != item.lead.observed():
                    self.deferred += 1  # edited (or deleted) since planned: the next run plans it again
                    continue
            elif item.sheet_id in taken:
                self.deferred += 1
                continue
            self.applied.append(item)
        ends: dict[str, int] = {}

        def next_position(status: str) -> int:
            if status not in ends:
                ends[status] = task_column_end(status)
            position = ends[status]
            ends[status] += POSITION_GAP
            return position

        audits: list[AuditEvent] = []
        new_leads: list[Lead] = []
        new_tasks: list[Task] = []
        lead_updates: dict[tuple[str, ...], list[Lead]] = {}
        task_updates: dict[tuple[str, ...], list[Task]] = {}
        task_ids = [i.lead.task_id for i in self.applied if i.lead is not None and i.lead.task_id]
        task_ids += [i.adopt_task for i in self.applied if i.adopt_task]
        tasks = Task.objects.select_for_update().in_bulk(task_ids) if task_ids else {}

        for item in self.applied:
            if item.kind == "new":
                values = item.lead_values
                lead = Lead(
                    sheet_id=item.sheet_id,
                    name=values["name"],
                    email=values["email"],
                    status=values["status"],
                    source=values["source"],
                    task_id=item.create_task or item.adopt_task,
                    sync_baseline=item.baseline_now,
                    synced_at=now,
                    sheet_row=item.row.row if item.row else None,
                    created_at=now,
                    updated_at=now,
                )
                new_leads.append(lead)
                continue
            assert item.lead is not None
            lead = Lead(pk=item.lead.pk, sheet_id=item.sheet_id, **item.lead.values)
            lead.task_id = item.lead.task_id
            lead.sync_baseline = {**(item.lead.baseline or {}), **item.baseline_now}
            lead.synced_at = now
            lead.removed_at = now if item.lead_remove else (None if item.lead_restore else item.lead.removed_at)
            lead.sync_error = item.sync_error if item.sync_error is not None else item.lead.sync_error
            lead.sheet_row = item.row.row if item.row else item.lead.sheet_row
            lead.updated_at = now
            # Only the columns that change are written (bulk_update grouped by column set).
            fields = ["sync_baseline", "synced_at"]
            if item.create_task or item.adopt_task:
                lead.task_id = item.create_task or item.adopt_task
                fields.append("task")
            if lead.sheet_row != item.lead.sheet_row:
                fields.append("sheet_row")
            if lead.sync_error != item.lead.sync_error:
                fields.append("sync_error")
            changed = {}
            for name, value in item.lead_values.items():
                changed[name] = [getattr(lead, name), value]
                setattr(lead, name, value)
            if item.lead_remove:
                changed["removed_at"] = [None, now.isoformat()]
            if item.lead_restore:
                changed["removed_at"] = ["removed", None]
            if changed:
                fields += [*changed, "updated_at"]
                audits.append(_audit(self.actor, "lead.sync_update", "leads.lead", lead.pk, str(lead), changed, now))
            lead_updates.setdefault(tuple(fields), []).append(lead)
        if new_leads:
            Lead.objects.bulk_create(new_leads, batch_size=BATCH)
            for lead in new_leads:
                audits.append(
                    _audit(
                        self.actor,
                        "lead.sync_create",
                        "leads.lead",
                        lead.pk,
                        str(lead),
                        {"name": [None, lead.name], "status": [None, lead.status]},
                        now,
                    )
                )
        lead_pk = {lead.sheet_id: lead.pk for lead in new_leads}
        lead_pk.update({lead.sheet_id: lead.pk for group in lead_updates.values() for lead in group})

        for item in self.applied:
            if item.create_task:
                values = new_task_values(item)
                task = Task(
                    **values,
                    lead_id=lead_pk[item.sheet_id],
                    position=next_position(values["status"]),
                    synced_at=now,
                    created_at=now,
                    updated_at=now,
                    completed_at=now if values["status"] == Task.Status.DONE else None,
                )
                new_tasks.append(task)
                continue
            task_pk = item.adopt_task or (item.lead.task_id if item.lead else None)
            task = tasks.get(task_pk) if task_pk else None
            if task is None:
                continue
            changed: dict[str, list[Any]] = {}
            fields = []
            if item.adopt_task:
                changed["lead"] = [task.lead_id, lead_pk[item.sheet_id]]
                task.lead_id = lead_pk[item.sheet_id]
                fields.append("lead")
            if item.task_status and item.task_status != task.status:
                changed["status"] = [task.status, item.task_status]
                old_position = task.position
                task.set_status(item.task_status, now=now)
                task.position = next_position(item.task_status)
                changed["position"] = [old_position, task.position]
                fields += ["status", "position", "completed_at"]
            if item.task_title and item.task_title != task.title:
                changed["title"] = [task.title, item.task_title]
                task.title = item.task_title
                fields.append("title")
            if item.task_remove and task.removed_at is None:
                changed["removed_at"] = [None, now.isoformat()]
                task.removed_at = now
                fields.append("removed_at")
            if (item.task_restore or item.adopt_task) and task.removed_at is not None:
                changed["removed_at"] = [task.removed_at.isoformat(), None]
                task.removed_at = None
                fields.append("removed_at")
            if changed:
                task.updated_at = task.synced_at = now
                task_updates.setdefault(tuple(dict.fromkeys([*fields, "updated_at", "synced_at"])), []).append(task)
                audits.append(_audit(self.actor, "task.sync_update", "tasks.task", task.pk, task.title, changed, now))
        if new_tasks:
            Task.objects.bulk_create(new_tasks, batch_size=BATCH)
            self.tasks_created = len(new_tasks)
            for task in new_tasks:
                audits.append(
                    _audit(
                        self.actor,
                        "task.create",
                        "tasks.task",
                        task.pk,
                        task.title,
                        {"status": [None, task.status]},
                        now,
                    )
                )
        for fields, leads in lead_updates.items():
            Lead.objects.bulk_update(leads, fields=list(fields), batch_size=BATCH)
        for fields, group in task_updates.items():
            Task.objects.bulk_update(group, fields=list(fields), batch_size=BATCH)
        self._conflicts(lead_pk, now)
        if audits:
            AuditEvent.objects.bulk_create(audits, batch_size=BATCH)

    def _conflicts(self, lead_pk: dict[str, int], now: dt.datetime) -> None:
        """Record every conflict on the run; keep the held ones in the inbox (one open per lead
        and field), and close the inbox entries that a later change settled."""
        held: set[tuple[int, str]] = set()
        for item in self.applied:
            for conflict in item.conflicts:
                pk = lead_pk[item.sheet_id]
                kept = conflict["kept"]
                self.log.conflict(
                    external_id=item.sheet_id,
                    message=(
                        f"{conflict['field']} changed in the sheet ({conflict['sheet']!r}) and in Tracker "
                        f"({conflict['tracker']!r}); "
                        + ("held for review." if kept == "held" else f"kept the {kept} value.")
                    ),
                    detail={"lead_id": pk, **conflict},
                )
                if kept != "held":
                    continue
                held.add((pk, conflict["field"]))
                updated = (
                    LeadConflict.objects.open()
                    .filter(lead_id=pk, field=conflict["field"])
                    .update(
                        sheet_value=conflict["sheet"],
                        tracker_value=conflict["tracker"],
                        baseline_value=conflict["baseline"],
                        run_id=self.log.run.pk,
                        updated_at=now,
                    )
                )
                if not updated:
                    LeadConflict.objects.create(
                        lead_id=pk,
                        field=conflict["field"],
                        baseline_value=conflict["baseline"],
                        sheet_value=conflict["sheet"],
                        tracker_value=conflict["tracker"],
                        run_id=self.log.run.pk,
                        created_at=now,
                        updated_at=now,
                    )
        in_sheet = set(self.plan.parsed.rows)
        stale = (
            [
                c.pk
                for c in LeadConflict.objects.open().filter(lead__sheet_id__in=in_sheet).only("pk", "lead_id", "field")
                if (c.lead_id, c.field) not in held
            ]
            if in_sheet
            else []
        )
        if stale:
            LeadConflict.objects.filter(pk__in=stale).update(
                resolved_at=now, resolution=LeadConflict.Side.AUTO, resolved_by="sync", updated_at=now
            )

    # --- step 2 --------------------------------------------------------------------------
    def sheet_writes(self) -> tuple[list[CellWrite], list[RowWrite], list[tuple[str, list[str]]]]:
        """(header cells, cells of existing rows by lead id, whole new rows by lead id)."""
        parsed = self.plan.parsed
        columns = {**parsed.columns, "task_id": parsed.task_id_col}
        header = [
            CellWrite(row=parsed.header_row, col=col, value=text) for col, text in self.plan.header_writes.items()
        ]
        rows: list[RowWrite] = []
        appends: list[tuple[str, list[str]]] = []
        width = max(columns.values()) + 1
        for item in self.applied:
            if item.row is not None and item.sheet:
                rows.append(RowWrite(key=item.sheet_id, cells={columns[n]: v for n, v in item.sheet.items()}))
            if item.append is not None:
                line = [""] * width
                for name, value in item.append.items():
                    line[columns[name]] = value
                while line and line[-1] == "":
                    line.pop()
                appends.append((item.sheet_id, line))
        return header, rows, appends

    def write_sheet(self, connector: GoogleSheetsConnector) -> WriteResult:
        """Raises ConnectorError; then no baseline moves (step 3 does not run). Rows without a
        tag yet are tagged even when nothing else is written, so the next write is safe."""
        parsed = self.plan.parsed
        header, rows, appends = self.sheet_writes()
        snapshot = parsed.snapshot
        keys = set(parsed.rows)
        key_col = parsed.columns["id"]
        untagged = snapshot is not None and tags_pending(snapshot, key_col=key_col, keys=keys)
        if snapshot is None or not (header or rows or appends or untagged):
            return WriteResult()
        return connector.write(snapshot=snapshot, key_col=key_col, keys=keys, header=header, rows=rows, appends=appends)

    # --- step 3 --------------------------------------------------------------------------
    @transaction.atomic
    def confirm_written(self, result: WriteResult) -> None:
        """Move the baselines of what landed; report each lead whose write did not (its
        baseline stays, so the next run plans it again)."""
        written: dict[str, LeadPlan] = {}
        for item in self.applied:
            if not item.baseline_after_write:
                continue
            if item.sheet_id in result.written:
                written[item.sheet_id] = item
            else:
                why = result.missed.get(item.sheet_id, "the write did not reach its row")
                self.log.error(
                    message=f"{item.sheet_id}: not written to the sheet: {why}; nothing was written elsewhere.",
                    external_id=item.sheet_id,
                    detail={"fields": sorted(item.sheet), "reason": why},
                )
        if not written:
            return
        now = timezone.now()
        leads = list(Lead.objects.select_for_update().filter(sheet_id__in=list(written)))
        for lead in leads:
            lead.sync_baseline = {**(lead.sync_baseline or {}), **written[lead.sheet_id].baseline_after_write}
            lead.synced_at = now
        Lead.objects.bulk_update(leads, fields=["sync_baseline", "synced_at"], batch_size=BATCH)
