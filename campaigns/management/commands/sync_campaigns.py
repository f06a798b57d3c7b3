"""python manage.py sync_campaigns [--channel C] [--days N]

Syncs synchronously (no cluster needed): one line per platform connector with its counts and
flagged revisions, then the alert evaluation; exits non-zero if any run failed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.alerts import alerts_evaluate
from campaigns.services import MAX_LOOKBACK_DAYS, campaign_metrics_sync, connector_keys_for, lookback_days
from integrations.connectors.metrics import CHANNELS, get_metrics_connector_class
from integrations.models import SyncRun


class Command(BaseCommand):
    help = "Read campaign metrics from Facebook, Instagram, Google Ads and TikTok now (synchronously)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--channel", choices=CHANNELS, action="append", help="Only this channel (repeatable).")
        parser.add_argument("--days", type=int, help="Look-back window in days, today included (default: setting).")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days is not None and not 1 <= days <= MAX_LOOKBACK_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_LOOKBACK_DAYS}.")
        channels = options["channel"]
        failed = 0
        keys = connector_keys_for(channels)
        for key in keys:
            cls = get_metrics_connector_class(key)
            mode = "live" if cls.is_configured() else "demo"
            prefix = f"{cls.label} ({mode}, {days or lookback_days()} days)"
            self.stdout.write(f"{prefix}: syncing…")
            run = campaign_metrics_sync(connector_key=key, trigger=SyncRun.Trigger.MANUAL, days=days, channels=channels)
            if getattr(run, "skip_reason", ""):
                self.stdout.write(f"{prefix}: skipped, {run.skip_reason} (run #{run.pk}).")
                continue
            summary = (
                f"{prefix}: {run.status} (run #{run.pk}) — {run.fetched} fetched, {run.created} created, "
                f"{run.updated} updated, {run.unchanged} unchanged, {run.failed} failed in "
                f"{run.duration_seconds or 0:.1f} s"
            )
            if run.status == SyncRun.Status.FAILED:
                failed += 1
                self.stdout.write(self.style.ERROR(f"{summary}\n    {run.error}"))
            else:
                write = self.style.WARNING if run.status == SyncRun.Status.PARTIAL else self.style.SUCCESS
                self.stdout.write(write(summary))
            for message in (run.details or {}).get("revisions", []):
                self.stdout.write(f"    revised: {message}")
        outcome = alerts_evaluate()
        self.stdout.write(f"Alerts: {outcome.fired} fired, {outcome.recovered} recovered.")
        if failed:
            raise CommandError(f"{failed} of {len(keys)} syncs failed.")
