"""python manage.py sync_sponsors [--sponsor NAME_OR_ID] [--source salesforce|asana|google_calendar]

Pulls synchronously (no cluster needed), one line of progress per pull and a summary per run;
exits non-zero if any run failed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.actor import ORIGIN_SYNC, Actor
from integrations.connectors import get_connector_class
from integrations.models import SyncRun
from sponsors.models import PULL_SOURCES, Sponsor
from sponsors.services import sponsor_sync


class Command(BaseCommand):
    help = "Pull sponsors' tasks from Salesforce, Asana and Google Calendar now (synchronously)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sponsor", help="A sponsor's name or id (default: every active sponsor).")
        parser.add_argument("--source", choices=PULL_SOURCES, help="Only this platform (default: every mapped one).")

    def _sponsors(self, wanted: str | None) -> list[Sponsor]:
        if not wanted:
            return list(Sponsor.objects.active().order_by("name"))
        qs = Sponsor.objects.filter(pk=int(wanted)) if wanted.isdigit() else Sponsor.objects.none()
        found = list(qs) or list(Sponsor.objects.filter(name__iexact=wanted.strip()))
        if not found:
            raise CommandError(f"No sponsor with the name or id {wanted!r}.")
        return found

    def handle(self, *args: Any, **options: Any) -> None:
        sponsors = self._sponsors(options["sponsor"])
        actor = Actor.system_job("sync_sponsors", origin=ORIGIN_SYNC)
        interactive = self.stdout.isatty()
        failed = done = 0
        if not sponsors:
            self.stdout.write("No active sponsor to pull. Add one on the Sponsors page or with the API.")
        for sponsor in sponsors:
            sources = [options["source"]] if options["source"] else sponsor.mapped_sources()
            if not sources:
                self.stdout.write(f"{sponsor.name}: no platform mapped, nothing to pull.")
            for source in sources:
                label = get_connector_class(source).label
                if not sponsor.platform_id(source):
                    self.stdout.write(f"{sponsor.name} ← {label}: not mapped, skipped.")
                    continue
                mode = "live" if get_connector_class(source).is_configured() else "demo"
                prefix = f"{sponsor.name} ← {label} ({mode})"
                self.stdout.write(f"{prefix}: pulling…", ending="\r" if interactive else "\n")
                self.stdout.flush()

                def progress(run: SyncRun, prefix: str = prefix) -> None:
                    if interactive:
                        self.stdout.write(f"{prefix}: page {run.pages}, {run.fetched:,} fetched…", ending="\r")
                        self.stdout.flush()

                run = sponsor_sync(
                    sponsor=sponsor, source=source, trigger=SyncRun.Trigger.MANUAL, actor=actor, on_page=progress
                )
                done += 1
                if getattr(run, "skip_reason", ""):
                    self.stdout.write(f"{prefix}: skipped, {run.skip_reason} (run #{run.pk}).")
                    continue
                summary = (
                    f"{prefix}: {run.status} (run #{run.pk}) — {run.fetched} fetched, {run.created} created, "
                    f"{run.updated} updated, {run.unchanged} unchanged, {run.removed} removed, "
                    f"{run.failed} failed, {run.conflicts} conflicts in {run.duration_seconds or 0:.1f} s"
                )
                if run.status == SyncRun.Status.FAILED:
                    failed += 1
                    self.stdout.write(self.style.ERROR(f"{summary}\n    {run.error}"))
                elif run.status == SyncRun.Status.PARTIAL:
                    self.stdout.write(self.style.WARNING(summary))
                else:
                    self.stdout.write(self.style.SUCCESS(summary))
        if failed:
            raise CommandError(f"{failed} of {done} pulls failed.")
