"""python manage.py sync_leads [--initial] [--dry-run]

Syncs the lead sheet with Tracker now (no cluster needed) and prints a summary; --dry-run
prints the plan (what would change on which side, and why) and writes nothing. Exits non-zero
when the run fails."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.actor import ORIGIN_SYNC, Actor
from integrations.connectors.base import ConnectorError
from integrations.connectors.google_sheets import GoogleSheetsConnector
from integrations.models import SyncRun
from leads.services import lead_sheet_preview, lead_sheet_sync
from leads.sheet_rows import SheetLayoutError


class Command(BaseCommand):
    help = "Sync the leads Google Sheet with Tracker (two-way) now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--initial", action="store_true", help="Create a task for every lead without one.")
        parser.add_argument("--dry-run", action="store_true", help="Show the planned changes; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        mode = "live" if GoogleSheetsConnector.is_configured() else "demo"
        if options["dry_run"]:
            self._dry_run(initial=options["initial"], mode=mode)
            return
        actor = Actor.system_job("sync_leads", origin=ORIGIN_SYNC)
        run = lead_sheet_sync(
            trigger=SyncRun.Trigger.MANUAL,
            initial=options["initial"],
            actor=actor,
            on_progress=lambda text: self.stdout.write(f"Google Sheets ({mode}): {text}…"),
        )
        if getattr(run, "skip_reason", ""):
            self.stdout.write(f"Skipped: {run.skip_reason} (run #{run.pk}).")
            return
        details = run.details or {}
        summary = (
            f"Google Sheets ({mode}): {run.status} (run #{run.pk}) — {run.fetched} rows read, {run.created} created, "
            f"{run.updated} updated, {run.unchanged} unchanged, {run.removed} removed, {run.failed} failed, "
            f"{run.conflicts} conflicts; {details.get('sheet_cells_written', 0)} cells written, "
            f"{details.get('rows_appended', 0)} rows appended, {details.get('rows_tagged', 0)} rows tagged "
            f"in {details.get('requests', 0)} requests "
            f"({run.duration_seconds or 0:.1f} s)"
        )
        for error in run.record_errors.all()[:50]:
            self.stdout.write(f"    {error.kind}: {error.external_id}: {error.message}")
        if run.status == SyncRun.Status.FAILED:
            self.stdout.write(self.style.ERROR(f"{summary}\n    {run.error}"))
            raise CommandError(f"The lead sync failed: {run.error}")
        style = self.style.WARNING if run.status == SyncRun.Status.PARTIAL else self.style.SUCCESS
        self.stdout.write(style(summary))

    def _dry_run(self, *, initial: bool, mode: str) -> None:
        try:
            plan = lead_sheet_preview(initial=initial)
        except (ConnectorError, SheetLayoutError) as exc:
            raise CommandError(f"Could not read the sheet: {exc}") from None
        self.stdout.write(f"Dry run against the {mode} sheet — nothing is written.")
        for item in plan.items:
            self.stdout.write(f"{item.sheet_id} ({item.name or '—'}): {item.kind}")
            for change in item.changes:
                self.stdout.write(
                    f"    {change.side}: {change.field} {change.old!r} → {change.new!r} ({change.reason})"
                )
            for conflict in item.conflicts:
                self.stdout.write(
                    f"    conflict: {conflict['field']} sheet {conflict['sheet']!r} / tracker {conflict['tracker']!r} "
                    f"→ {conflict['kept']}"
                )
        for bad in plan.errors:
            self.stdout.write(f"row {bad.row}: {bad.message}")
        summary = plan.summary()
        self.stdout.write(self.style.SUCCESS("Plan: " + ", ".join(f"{k}={v}" for k, v in summary.items())))
