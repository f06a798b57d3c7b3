"""Writes for leads: the two-way sheet sync (and its dry run), edits made in Tracker, new
leads, and a person settling a held conflict. Every write is audited."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actor import ORIGIN_SYNC, Actor
from accounts.services import audit_record
from integrations.connectors.base import AuthError, ConnectorError
from integrations.connectors.google_sheets import GoogleSheetsConnector
from integrations.models import SyncRun
from integrations.queue import enqueue
from integrations.services import (
    SyncRunLog,
    SyncSkipped,
    connector_state_after_run,
    sync_run_begin,
    sync_run_queue,
)
from leads.models import LEAD_TO_TASK, SYNCED_FIELDS, Lead, LeadConflict
from leads.selectors import CONNECTOR, adoptable_tasks, lead_states_for_sync
from leads.sheet_rows import LIMITS, SheetLayoutError, parse_sheet
from leads.sync_apply import PlanApplier
from leads.sync_plan import RULES, Plan, plan_sync, task_title
from tasks.models import Task
from tasks.services import task_columns_lock, task_columns_share, task_create, task_update

logger = logging.getLogger(__name__)

SYNC_ACTOR = "lead_sync"
DEFAULT_RULE = "review"


class LeadIdTaken(Exception):
    """Another lead already has this sheet id."""


class ConflictAlreadyResolved(Exception):
    """The conflict was settled meanwhile (by a person or by a later sync)."""


def conflict_rule() -> str:
    """LEADS_CONFLICT_RULE: "sheet", "tracker" or "review" (the default)."""
    rule = str(getattr(settings, "LEADS_CONFLICT_RULE", DEFAULT_RULE) or DEFAULT_RULE).strip().lower()
    return rule if rule in RULES else DEFAULT_RULE


# --- the sync ----------------------------------------------------------------------------------
def _plan(connector: GoogleSheetsConnector, *, rule: str, initial: bool) -> Plan:
    parsed = parse_sheet(connector.read())
    leads = lead_states_for_sync()
    return plan_sync(
        parsed=parsed, leads=leads, adoptable=adoptable_tasks(rows=parsed.rows, leads=leads), rule=rule, initial=initial
    )


def lead_sheet_preview(
    *, initial: bool = False, connector: GoogleSheetsConnector | None = None, rule: str | None = None
) -> Plan:
    """The dry run: read the sheet and plan, writing nothing anywhere. Returns the plan.
    Raises ConnectorError (the sheet could not be read) or SheetLayoutError."""
    conn = connector or GoogleSheetsConnector()
    try:
        return _plan(conn, rule=rule or conflict_rule(), initial=initial)
    finally:
        if connector is None:
            conn.close()


def lead_sheet_sync(
    *,
    trigger: str,
    initial: bool = False,
    actor: Actor | None = None,
    connector: GoogleSheetsConnector | None = None,
    run_id: int | None = None,
    rule: str | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> SyncRun:
    """One two-way sync of the lead sheet; returns its run.

    Never raises for a platform failure: the run is `failed` with the reason (a write that
    failed is redone by the next run) or `partial` (bad rows, skipped one by one, or leads
    whose row was deleted between the read and the write, each reported). When
    another run is in progress, returns that run with `skip_reason` set."""
    actor = actor or Actor.system_job(SYNC_ACTOR, origin=ORIGIN_SYNC)
    conn = connector or GoogleSheetsConnector()
    try:
        with sync_run_begin(connector=CONNECTOR, scope=conn.scope, trigger=trigger, run_id=run_id) as run:
            return _sync(
                run=run, conn=conn, actor=actor, initial=initial, rule=rule or conflict_rule(), progress=on_progress
            )
    except SyncSkipped as skipped:
        other = skipped.run or SyncRun.objects.filter(connector=CONNECTOR, scope=conn.scope).first()
        if other is None:  # pragma: no cover  (the other run vanished in between)
            raise
        other.skip_reason = skipped.reason  # type: ignore[attr-defined]
        return other
    finally:
        if connector is None:
            conn.close()


def _sync(
    *,
    run: SyncRun,
    conn: GoogleSheetsConnector,
    actor: Actor,
    initial: bool,
    rule: str,
    progress: Callable[[str], None] | None,
) -> SyncRun:
    log = SyncRunLog(run)
    conn.on_wait = log.heartbeat
    say = progress or (lambda text: None)
    details: dict[str, Any] = {
        "mode": "initial" if initial else "incremental",
        "demo": conn.demo,
        "spreadsheet": conn.spreadsheet_id,
        "worksheet": conn.worksheet,
        "conflict_rule": rule,
    }
    error, needs_reauth = "", False
    applier: PlanApplier | None = None
    try:
        say("reading the sheet")
        plan = _plan(conn, rule=rule, initial=initial)
        log.add(fetched=plan.parsed.data_rows, pages=1, unchanged=plan.unchanged)
        for bad in plan.errors:
            log.error(
                message=f"Row {bad.row}: {bad.message}",
                external_id=bad.sheet_id or f"row {bad.row}",
                detail={"row": bad.row, "cells": bad.cells},
            )
        say(f"{len(plan.items)} lead(s) to sync")
        applier = PlanApplier(plan=plan, log=log, actor=actor)
        applier.apply_tracker()
        applied = applier.applied
        log.add(
            created=sum(1 for i in applied if i.kind == "new"),
            updated=sum(1 for i in applied if i.kind in ("update", "error")),
            removed=sum(1 for i in applied if i.kind == "removed"),
        )
        log.flush()
        say("writing to the sheet")
        try:
            result = applier.write_sheet(conn)
        except ConnectorError as exc:
            exc.args = (f"Writing to the sheet failed: {exc.args[0]} — the next run writes it again.",)
            raise
        applier.confirm_written(result)
        log.add(created=result.appended)
        details.update(sheet_cells_written=result.cells, rows_appended=result.appended, rows_tagged=result.tagged)
    except SheetLayoutError as exc:
        error = str(exc)
    except AuthError as exc:
        error, needs_reauth = f"{exc} — the connection needs new credentials.", True
    except ConnectorError as exc:
        error = str(exc)
    except Exception as exc:
        logger.exception("Lead sheet sync failed")
        error = f"Internal error: {type(exc).__name__}: {exc}"
    details.update(
        requests=conn.requests_made,
        tasks_created=applier.tasks_created if applier else 0,
        deferred=applier.deferred if applier else 0,
        **conn.details,
    )
    run = log.finish(error=error, details=details)
    connector_state_after_run(run=run, needs_reauth=needs_reauth)
    if run.created or run.updated or run.removed or run.conflicts or run.status == SyncRun.Status.FAILED:
        audit_record(
            actor=actor,
            action="lead.sync",
            obj=run,
            changes={
                "run": (None, run.pk),
                "status": (None, run.status),
                **{
                    name: (None, getattr(run, name))
                    for name in ("created", "updated", "removed", "failed", "conflicts")
                },
            },
        )
    return run


def lead_sync_request(*, actor: Actor, trigger: str, initial: bool = False) -> SyncRun:
    """Queue a sync for a worker; returns its run (or the run already queued or running)."""
    run, created = sync_run_queue(connector=CONNECTOR, scope=GoogleSheetsConnector.settings_scope(), trigger=trigger)
    if created:
        enqueue("leads.jobs.lead_sync_one", trigger, run.pk, initial, task_name=f"lead sync {run.pk}")
    audit_record(actor=actor, action="lead.sync_request", obj=run, changes={"initial": (None, initial)})
    return run


# --- edits in Tracker --------------------------------------------------------------------------
def _clean(values: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, value in values.items():
        text = " ".join(str(value if value is not None else "").split())
        if name == "status":
            text = text.upper()
            if text not in Lead.Status.values:
                errors[name] = "Use NEW, CONTACTED, QUALIFIED or LOST."
        elif name == "email" and text:
            try:
                validate_email(text)
            except ValidationError:
                errors[name] = "Enter a valid email address."
        elif name == "name" and not text:
            errors[name] = "Name must not be blank."
        if name in LIMITS and len(text) > LIMITS[name]:
            errors[name] = f"At most {LIMITS[name]} characters."
        out[name] = text
    if errors:
        raise ValidationError(errors)
    return out


@transaction.atomic
def lead_update(*, lead: Lead, actor: Actor, **values: Any) -> Lead:
    """Edit a lead in Tracker; the sheet gets the new values on the next sync. A new status
    moves the lead's task to the matching column now. Writes (and audits) nothing when no
    value changes. Raises ValidationError."""
    unknown = set(values) - set(SYNCED_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown lead fields: {', '.join(sorted(unknown))}")
    values = _clean(values)
    # Column locks before the row locks, as every task writer takes them: exclusive when the
    # task may move, else shared (a renamed lead renames its task in place).
    if "status" in values:
        task_columns_lock(*Task.Status.values)
    else:
        task_columns_share()
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    changes = {f: (getattr(lead, f), v) for f, v in values.items() if getattr(lead, f) != v}
    if not changes:
        return lead
    old_name = lead.name
    for field, (_, new) in changes.items():
        setattr(lead, field, new)
    lead.updated_at = timezone.now()
    lead.save(update_fields=[*changes, "updated_at"])
    audit_record(actor=actor, action="lead.update", obj=lead, changes=changes)
    task = Task.objects.filter(pk=lead.task_id).first() if lead.task_id else None
    if task is not None:
        task_values: dict[str, Any] = {}
        if "status" in changes:
            task_values["status"] = LEAD_TO_TASK[lead.status]
        if "name" in changes and task.title == task_title(old_name, lead.sheet_id):
            task_values["title"] = task_title(lead.name, lead.sheet_id)
        if task_values:
            task_update(task=task, actor=actor, **task_values)
    return lead


def _next_sheet_id() -> str:
    numbers = [
        int(m.group(1))
        for s in Lead.objects.values_list("sheet_id", flat=True)
        if (m := re.fullmatch(r"lead-(\d+)", s))
    ]
    return f"lead-{max(numbers, default=0) + 1}"


@transaction.atomic
def lead_create(
    *, actor: Actor, name: str, email: str = "", status: str = "NEW", source: str = "", sheet_id: str | None = None
) -> Lead:
    """A lead made in Tracker, with its task; the next sync appends its row to the sheet.
    Raises ValidationError, LeadIdTaken."""
    values = _clean({"name": name, "email": email, "status": status, "source": source})
    sheet_id = " ".join((sheet_id or "").split()) or _next_sheet_id()
    if len(sheet_id) > LIMITS["id"]:
        raise ValidationError({"sheet_id": f"At most {LIMITS['id']} characters."})
    if Lead.objects.filter(sheet_id=sheet_id).exists():
        raise LeadIdTaken(f"A lead with the id {sheet_id!r} already exists.")
    now = timezone.now()
    try:
        with transaction.atomic():
            lead = Lead.objects.create(sheet_id=sheet_id, created_at=now, updated_at=now, **values)
    except IntegrityError:
        raise LeadIdTaken(f"A lead with the id {sheet_id!r} already exists.") from None
    task = task_create(
        actor=actor,
        title=task_title(lead.name, sheet_id),
        status=LEAD_TO_TASK[lead.status],
        lead=lead,
        source=Task.Source.SHEET,
        external_id=sheet_id,
    )
    lead.task = task
    lead.save(update_fields=["task"])
    audit_record(actor=actor, action="lead.create", obj=lead, changes={f: (None, getattr(lead, f)) for f in values})
    return lead


@transaction.atomic
def lead_conflict_resolve(*, conflict: LeadConflict, side: str, actor: Actor) -> LeadConflict:
    """Settle a held conflict with the sheet's or Tracker's value: Tracker takes it now, the
    sheet on the next sync. Raises ConflictAlreadyResolved, ValidationError (unknown side)."""
    if side not in (LeadConflict.Side.SHEET, LeadConflict.Side.TRACKER):
        raise ValidationError({"side": "Pick 'sheet' or 'tracker'."})
    task_columns_lock(*Task.Status.values)
    conflict = LeadConflict.objects.select_for_update().get(pk=conflict.pk)
    if not conflict.is_open:
        raise ConflictAlreadyResolved("This conflict was already settled.")
    lead = Lead.objects.select_for_update().get(pk=conflict.lead_id)
    field = conflict.field
    value = conflict.sheet_value if side == LeadConflict.Side.SHEET else conflict.tracker_value
    baseline = dict(lead.sync_baseline or {})
    # The baseline takes the sheet's value: with "sheet" both sides then agree; with "tracker"
    # Tracker differs from it, so the next sync writes Tracker's value to the sheet.
    baseline[field] = conflict.sheet_value
    old = getattr(lead, field)
    setattr(lead, field, value)
    task = Task.objects.filter(pk=lead.task_id).first() if lead.task_id else None
    if field == "status" and task is not None:
        task = task_update(task=task, actor=actor, status=LEAD_TO_TASK[value])
        baseline["task_status"] = task.status
    lead.sync_baseline = baseline
    lead.updated_at = timezone.now()
    lead.save(update_fields=[field, "sync_baseline", "updated_at"])
    conflict.resolved_at = timezone.now()
    conflict.resolution = side
    conflict.resolved_by = actor.label[:200]
    conflict.updated_at = conflict.resolved_at
    conflict.save(update_fields=["resolved_at", "resolution", "resolved_by", "updated_at"])
    audit_record(
        actor=actor,
        action="lead.conflict_resolve",
        obj=lead,
        changes={field: (old, value), "kept": (None, side)},
    )
    return conflict
