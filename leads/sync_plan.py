"""Planning a lead sync: compare each sheet row and each lead (with its task) against what both
sides agreed at the last sync, and list what to change on which side, and why. Nothing is
written here; a dry run shows this plan.

Rules, per field (name, email, status, source):
- Only the sheet changed since the baseline: the sheet's value comes to Tracker.
- Only Tracker changed (the lead was edited, or for the status, its task was moved): Tracker's
  value goes to the sheet.
- Both changed to different values: a conflict, settled by LEADS_CONFLICT_RULE — "sheet"
  (the sheet's value wins), "tracker" (Tracker's wins) or "review" (held: neither side moves
  until a person picks one in the conflict inbox). Every conflict is recorded on the run.
- A lead newly LOST in the sheet stays LOST whatever Tracker did (LOST is terminal), a LOST
  lead's task is kept done, and moving its task never brings the lead back.
- The task_id column belongs to Tracker: it always shows the lead's task (empty once the task
  was deleted in Tracker).
- A value Tracker wrote, read back on the next run, equals the baseline: not a change.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from integrations.connectors.google_sheets import rows_to_tag
from leads.models import LEAD_TO_TASK, SYNCED_FIELDS, TASK_TO_LEAD, Lead
from leads.sheet_rows import ParsedSheet, RowError, SheetRow
from tasks.models import Task

RULES = ("sheet", "tracker", "review")
LOST = Lead.Status.LOST


def task_title(name: str, sheet_id: str) -> str:
    return f"Lead: {name or sheet_id}"[:255]


@dataclass
class LeadState:
    """A lead and its task as loaded for planning (plain values, no model instances)."""

    pk: int
    sheet_id: str
    values: dict[str, str]
    task_id: uuid.UUID | None
    task_status: str | None
    task_title: str | None
    task_removed: bool
    baseline: dict[str, Any] | None
    removed_at: dt.datetime | None
    sync_error: str
    sheet_row: int | None = None

    @property
    def removed(self) -> bool:
        return self.removed_at is not None

    def observed(self) -> tuple[Any, ...]:
        """What the plan was based on; the apply step re-checks it under lock."""
        return (
            tuple(self.values[f] for f in SYNCED_FIELDS),
            self.task_id,
            self.task_status,
            self.removed,
            self.task_removed,
        )


@dataclass
class Change:
    side: str  # "tracker" | "sheet"
    field: str
    old: Any
    new: Any
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"side": self.side, "field": self.field, "from": self.old, "to": self.new, "reason": self.reason}


@dataclass
class LeadPlan:
    sheet_id: str
    kind: str  # new | update | removed | append | error
    lead: LeadState | None = None
    row: SheetRow | None = None
    name: str = ""
    # Tracker side
    lead_values: dict[str, str] = field(default_factory=dict)
    create_task: uuid.UUID | None = None
    adopt_task: uuid.UUID | None = None
    task_status: str | None = None
    task_title: str | None = None
    task_restore: bool = False
    task_remove: bool = False
    lead_remove: bool = False
    lead_restore: bool = False
    sync_error: str | None = None
    # Sheet side: {column name: value}; `append` is a whole new row
    sheet: dict[str, str] = field(default_factory=dict)
    append: dict[str, str] | None = None
    # Baseline keys to store now (the sheet already says so) and after the sheet write
    baseline_now: dict[str, Any] = field(default_factory=dict)
    baseline_after_write: dict[str, Any] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def writes_tracker(self) -> bool:
        return bool(
            self.kind == "new"
            or self.lead_values
            or self.create_task
            or self.task_status
            or self.task_title
            or self.task_restore
            or self.task_remove
            or self.lead_remove
            or self.lead_restore
            or self.sync_error is not None
            or self.baseline_now
            or self.conflicts
        )

    @property
    def writes_sheet(self) -> bool:
        return bool(self.sheet or self.append)

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.conflicts or self.kind in ("new", "append", "removed"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "sheet_id": self.sheet_id,
            "lead_id": self.lead.pk if self.lead else None,
            "name": self.name,
            "row": self.row.row if self.row else None,
            "kind": self.kind,
            "changes": [c.as_dict() for c in self.changes],
            "conflicts": self.conflicts,
        }


@dataclass
class Plan:
    items: list[LeadPlan]
    errors: list[RowError]
    parsed: ParsedSheet
    rule: str
    initial: bool
    header_writes: dict[int, str] = field(default_factory=dict)  # column → header text
    unchanged: int = 0

    @property
    def sheet_cells(self) -> int:
        return len(self.header_writes) + sum(len(i.sheet) for i in self.items)

    @property
    def rows_to_tag(self) -> int:
        """Rows in the sheet that get their lead's tag (rows typed in by hand, or never synced)."""
        parsed = self.parsed
        if parsed.snapshot is None:
            return 0
        return rows_to_tag(parsed.snapshot, key_col=parsed.columns["id"], keys=set(parsed.rows))

    @property
    def appends(self) -> int:
        return sum(1 for i in self.items if i.append is not None)

    def summary(self) -> dict[str, Any]:
        items = self.items
        return {
            "rows": self.parsed.data_rows,
            "new_leads": sum(1 for i in items if i.kind == "new"),
            "tasks_to_create": sum(1 for i in items if i.create_task),
            "tracker_changes": sum(1 for i in items for c in i.changes if c.side == "tracker"),
            "sheet_cells": self.sheet_cells,
            "rows_to_append": self.appends,
            "rows_to_tag": self.rows_to_tag,
            "removed": sum(1 for i in items if i.kind == "removed"),
            "conflicts": sum(len(i.conflicts) for i in items),
            "held_for_review": sum(1 for i in items for c in i.conflicts if c["kept"] == "held"),
            "bad_rows": len(self.errors),
            "unchanged": self.unchanged,
            "conflict_rule": self.rule,
            "initial": self.initial,
        }


def tracker_status(lead: LeadState) -> tuple[str, str]:
    """The status Tracker holds for a lead, and why: an edit of the lead itself comes first,
    then a move of its task (never for a LOST lead: LOST is terminal)."""
    base = lead.baseline or {}
    current = lead.values["status"]
    if current != base.get("status", current):
        return current, "edited in Tracker"
    if current == LOST:
        return current, ""
    if lead.task_status and base.get("task_status") and lead.task_status != base["task_status"]:
        return TASK_TO_LEAD[lead.task_status], f"its task was moved to {lead.task_status}"
    return current, ""


def _plan_field(
    *, name: str, sheet: str, tracker: str, base: str, tracker_why: str, rule: str
) -> tuple[str | None, str, dict[str, Any] | None]:
    """(agreed value or None when held, reason, conflict or None)."""
    if sheet == tracker:
        return sheet, "", None
    if tracker == base:
        return sheet, f"changed in the sheet ({base!r} → {sheet!r})", None
    if sheet == base:
        return tracker, f"{tracker_why or 'edited in Tracker'} ({base!r} → {tracker!r})", None
    conflict = {"field": name, "baseline": base, "sheet": sheet, "tracker": tracker}
    if name == "status" and sheet == LOST:
        return sheet, "LOST in the sheet (LOST is terminal)", {**conflict, "kept": "sheet"}
    if rule == "sheet":
        return sheet, "changed on both sides; the sheet wins (LEADS_CONFLICT_RULE=sheet)", {**conflict, "kept": "sheet"}
    if rule == "tracker":
        return (
            tracker,
            "changed on both sides; Tracker wins (LEADS_CONFLICT_RULE=tracker)",
            {
                **conflict,
                "kept": "tracker",
            },
        )
    return None, "changed on both sides; held for review", {**conflict, "kept": "held"}


def _plan_existing(
    lead: LeadState, row: SheetRow, *, rule: str, initial: bool, adoptable: dict[str, uuid.UUID]
) -> LeadPlan:
    item = LeadPlan(sheet_id=lead.sheet_id, kind="update", lead=lead, row=row, name=row.values["name"])
    base = lead.baseline if lead.baseline is not None else {**lead.values, "task_status": lead.task_status}
    if lead.removed:
        item.lead_restore = True
        item.changes.append(Change("tracker", "removed_at", "removed", None, "the row is back in the sheet"))
    if lead.sync_error:
        item.sync_error = ""
    final: dict[str, str | None] = {}
    for name in SYNCED_FIELDS:
        sheet_value = row.values[name]
        if name == "status":
            tracker_value, why = tracker_status(lead)
        else:
            tracker_value, why = lead.values[name], ""
        base_value = str(base.get(name, tracker_value))
        agreed, reason, conflict = _plan_field(
            name=name, sheet=sheet_value, tracker=tracker_value, base=base_value, tracker_why=why, rule=rule
        )
        final[name] = agreed
        if conflict is not None:
            item.conflicts.append(conflict)
        if agreed is None:
            continue
        if agreed != lead.values[name]:
            item.lead_values[name] = agreed
            if agreed != tracker_value or not why:
                item.changes.append(Change("tracker", name, lead.values[name], agreed, reason))
        if agreed != sheet_value:
            item.sheet[name] = agreed
            item.changes.append(Change("sheet", name, sheet_value, agreed, reason))
            item.baseline_after_write[name] = agreed
        elif agreed != base.get(name):
            item.baseline_now[name] = agreed

    # The task: create it, keep it in step with the status, restore it, rename it.
    task_id = lead.task_id
    task_status = lead.task_status
    if task_id is None and initial:
        task_status = LEAD_TO_TASK[final["status"] or lead.values["status"]]
        if lead.sheet_id in adoptable:
            task_id = item.adopt_task = adoptable[lead.sheet_id]
            item.task_status = task_status
            item.changes.append(Change("tracker", "task", None, str(task_id), "initial sync: relinked to its task"))
        else:
            task_id = item.create_task = uuid.uuid4()
            item.changes.append(Change("tracker", "task", None, str(task_id), "initial sync: every lead gets a task"))
    elif task_id is not None:
        if final["status"] is not None:
            wanted = LEAD_TO_TASK[final["status"]]
            if wanted != lead.task_status:
                item.task_status = task_status = wanted
                why = (
                    "LOST is terminal: its task stays done" if final["status"] == LOST else f"lead is {final['status']}"
                )
                item.changes.append(Change("tracker", "task_status", lead.task_status, wanted, why))
        if lead.task_removed:
            item.task_restore = True
        if final["name"] is not None and final["name"] != lead.values["name"]:
            if lead.task_title == task_title(lead.values["name"], lead.sheet_id):
                item.task_title = task_title(final["name"], lead.sheet_id)
    if final["status"] is not None:
        key = "task_status"
        if "status" in item.baseline_after_write:
            item.baseline_after_write[key] = task_status
        elif base.get(key) != task_status:
            item.baseline_now[key] = task_status

    _plan_task_cell(item, lead=lead, task_id=task_id, base=base)
    if lead.baseline is None:
        # Known to Tracker but never synced (its append's answer was lost): adopt the row.
        for name in SYNCED_FIELDS:
            if final[name] is not None and name not in item.baseline_after_write:
                item.baseline_now[name] = final[name]
        item.baseline_now.setdefault("task_status", task_status)
        if "task_id" not in item.baseline_after_write:
            item.baseline_now["task_id"] = str(task_id) if task_id else None
    if item.kind == "update" and not item.changed and not item.writes_tracker:
        item.kind = "unchanged"
    return item


def _plan_task_cell(item: LeadPlan, *, lead: LeadState | None, task_id: uuid.UUID | None, base: dict[str, Any]) -> None:
    assert item.row is not None
    ours = str(task_id) if task_id else ""
    cell = item.row.task_id_cell
    if cell != ours:
        if not ours and base.get("task_id"):
            reason = "its task was deleted in Tracker"
        elif not ours:
            reason = "no task in Tracker for this lead"
        elif not cell:
            reason = "new task id"
        else:
            reason = "task_id is kept by Tracker"
        item.sheet["task_id"] = ours
        item.changes.append(Change("sheet", "task_id", cell, ours, reason))
        item.baseline_after_write["task_id"] = ours or None
    elif base.get("task_id") != (ours or None):
        item.baseline_now["task_id"] = ours or None


def _plan_new(row: SheetRow, *, adoptable: dict[str, uuid.UUID]) -> LeadPlan:
    values = row.values
    item = LeadPlan(sheet_id=row.sheet_id, kind="new", row=row, name=values["name"])
    item.lead_values = dict(values)
    adopt = adoptable.get(row.sheet_id)
    status = LEAD_TO_TASK[values["status"]]
    if adopt is not None:
        item.adopt_task = adopt
        item.task_status = status
        task_id = adopt
        item.changes.append(Change("tracker", "task", None, str(adopt), "relinked to the task named in task_id"))
    else:
        task_id = item.create_task = uuid.uuid4()
        item.changes.append(Change("tracker", "task", None, str(task_id), "new lead in the sheet"))
    item.changes.insert(0, Change("tracker", "lead", None, row.sheet_id, "new row in the sheet"))
    item.baseline_now = {**values, "task_status": status, "task_id": None}
    _plan_task_cell(item, lead=None, task_id=task_id, base={"task_id": None})
    if "task_id" not in item.sheet:
        item.baseline_now["task_id"] = str(task_id)
    return item


def _plan_append(lead: LeadState, parsed: ParsedSheet) -> LeadPlan:
    """A lead made in Tracker that the sheet does not have yet: one appended row."""
    values = {"id": lead.sheet_id, **lead.values, "task_id": str(lead.task_id) if lead.task_id else ""}
    item = LeadPlan(sheet_id=lead.sheet_id, kind="append", lead=lead, name=lead.values["name"], append=values)
    item.changes.append(Change("sheet", "row", None, lead.sheet_id, "new lead made in Tracker"))
    item.baseline_after_write = {
        **lead.values,
        "task_status": lead.task_status,
        "task_id": str(lead.task_id) if lead.task_id else None,
    }
    return item


def plan_sync(
    *,
    parsed: ParsedSheet,
    leads: dict[str, LeadState],
    adoptable: dict[str, uuid.UUID],
    rule: str,
    initial: bool,
) -> Plan:
    """The plan for one run (pure: reads nothing, writes nothing)."""
    if rule not in RULES:
        raise ValueError(f"Unknown conflict rule {rule!r}; use one of {', '.join(RULES)}.")
    plan = Plan(items=[], errors=list(parsed.errors), parsed=parsed, rule=rule, initial=initial)
    if "task_id" not in parsed.columns:
        plan.header_writes[parsed.task_id_col] = "task_id"
    bad_ids = {e.sheet_id: e for e in parsed.errors if e.sheet_id}
    for sheet_id, row in parsed.rows.items():
        lead = leads.get(sheet_id)
        if lead is None:
            item = _plan_new(row, adoptable=adoptable)
        else:
            item = _plan_existing(lead, row, rule=rule, initial=initial, adoptable=adoptable)
        if item.kind == "unchanged":
            plan.unchanged += 1
        else:
            plan.items.append(item)
    for sheet_id, lead in leads.items():
        if sheet_id in parsed.rows:
            continue
        if sheet_id in bad_ids:
            message = bad_ids[sheet_id].message
            if lead.sync_error != message:
                plan.items.append(LeadPlan(sheet_id=sheet_id, kind="error", lead=lead, sync_error=message))
            continue
        if sheet_id in parsed.seen_ids:
            continue
        if lead.baseline is None:
            plan.items.append(_plan_append(lead, parsed))
        elif not lead.removed:
            item = LeadPlan(sheet_id=sheet_id, kind="removed", lead=lead, name=lead.values["name"], lead_remove=True)
            item.task_remove = lead.task_id is not None and not lead.task_removed
            item.changes.append(Change("tracker", "removed_at", None, "removed", "the row is no longer in the sheet"))
            plan.items.append(item)
    return plan


def new_task_values(item: LeadPlan) -> dict[str, Any]:
    """The fields of the task to create for a planned lead."""
    values = {**(item.lead.values if item.lead else {}), **item.lead_values}
    details = [
        part for part in (values.get("email"), f"source: {values['source']}" if values.get("source") else "") if part
    ]
    return {
        "id": item.create_task,
        "title": task_title(values.get("name", ""), item.sheet_id),
        "description": " · ".join(details),
        "status": LEAD_TO_TASK[values["status"]],
        "priority": Task.Priority.MEDIUM,
        "source": Task.Source.SHEET,
        "external_id": item.sheet_id,
    }
