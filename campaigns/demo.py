"""Demo campaign history: 90 days of ~20 campaigns across the four channels, so the analytics
page is alive on a fresh install. It runs the real sync code against the platforms' built-in
simulators (forced to demo mode even when credentials are set), so the demo data goes through
the same parsing and upserts as production; the numbers are deterministic, and running it again
changes nothing. Campaigns are linked to the sponsor whose name starts theirs (seed_demo's
sponsors), and one example alert rule is created for the demo user when there is one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth import get_user_model

from accounts.actor import Actor
from campaigns.models import AlertRule
from campaigns.services import alert_rule_create, campaign_metrics_sync
from integrations.connectors.metrics import METRICS_CONNECTORS, get_metrics_connector
from integrations.models import SyncRun

DEMO_DAYS = 90


def seed_campaigns_demo(*, stdout: TextIO | None = None, days: int = DEMO_DAYS) -> dict[str, Any]:
    """Load `days` days of demo metrics (idempotent); returns {connector: run status, ...}."""
    result: dict[str, Any] = {}
    for key in METRICS_CONNECTORS:
        connector = get_metrics_connector(key, demo=True)
        run = campaign_metrics_sync(connector_key=key, trigger=SyncRun.Trigger.MANUAL, days=days, connector=connector)
        connector.close()
        result[key] = getattr(run, "skip_reason", "") or run.status
        if stdout is not None:
            stdout.write(
                f"campaigns demo: {connector.label}: {result[key]} — {run.created} days created, "
                f"{run.updated} updated, {run.unchanged} unchanged\n"
            )
    username = getattr(settings, "DEMO_USERNAME", "demo")
    user = get_user_model().objects.filter(username=username).first()
    if user is not None and not AlertRule.objects.filter(owner=user).exists():
        alert_rule_create(
            actor=Actor.system_job("seed_demo"),
            owner=user,
            name="Losing money (ROI below 0 over 3 days)",
            metric=AlertRule.Metric.ROI,
            comparison=AlertRule.Comparison.LT,
            threshold=Decimal(0),
            window_days=3,
        )
        result["alert_rule"] = "created"
    return result
