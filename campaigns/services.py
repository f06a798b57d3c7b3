"""Writes for campaigns: the metrics sync (per platform connector), sync requests, a campaign's
sponsor, and alert rules (audited). Alert evaluation lives in campaigns/alerts.py."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.actor import ORIGIN_SYNC, Actor
from accounts.services import audit_record
from campaigns.models import AlertRule, Campaign
from campaigns.sync import MetricsUpserter
from integrations.connectors.base import AuthError, ConnectorError
from integrations.connectors.metrics import (
    CHANNEL_CONNECTORS,
    METRICS_CONNECTORS,
    MetricsConnector,
    get_metrics_connector,
)
from integrations.models import SyncRun
from integrations.queue import enqueue
from integrations.services import (
    SyncRunLog,
    SyncSkipped,
    connector_state_after_run,
    sync_run_begin,
    sync_run_queue,
)

logger = logging.getLogger(__name__)

SCOPE = "campaigns"
SYNC_ACTOR = "campaign_sync"
MAX_LOOKBACK_DAYS = 400


def lookback_days() -> int:
    return max(1, min(int(getattr(settings, "CAMPAIGN_LOOKBACK_DAYS", 7)), MAX_LOOKBACK_DAYS))


def campaign_metrics_sync(
    *,
    connector_key: str,
    trigger: str,
    days: int | None = None,
    channels: list[str] | None = None,
    today: dt.date | None = None,
    connector: MetricsConnector | None = None,
    run_id: int | None = None,
    on_page: Callable[[SyncRun], None] | None = None,
) -> SyncRun:
    """Read the last `days` days (default CAMPAIGN_LOOKBACK_DAYS, 7, today included) from one
    platform connector and upsert them; return the run.

    Never raises for a platform failure: the run is `failed` (with the reason) or `partial`
    (rows that failed alone). When another run of the same connector is in progress, returns
    that run with `skip_reason` set. Raises KeyError for an unknown connector key.
    """
    if connector_key not in METRICS_CONNECTORS:
        raise KeyError(connector_key)
    span = max(1, min(days or lookback_days(), MAX_LOOKBACK_DAYS))
    until = today or timezone.localdate()
    since = until - dt.timedelta(days=span - 1)
    try:
        with sync_run_begin(connector=connector_key, scope=SCOPE, trigger=trigger, run_id=run_id) as run:
            return _sync(
                run=run,
                connector_key=connector_key,
                connector=connector,
                since=since,
                until=until,
                channels=channels,
                on_page=on_page,
            )
    except SyncSkipped as skipped:
        other = skipped.run or SyncRun.objects.filter(connector=connector_key, scope=SCOPE).first()
        if other is None:  # pragma: no cover  (the other run vanished in between)
            raise
        other.skip_reason = skipped.reason  # type: ignore[attr-defined]
        return other


def _sync(
    *,
    run: SyncRun,
    connector_key: str,
    connector: MetricsConnector | None,
    since: dt.date,
    until: dt.date,
    channels: list[str] | None,
    on_page: Callable[[SyncRun], None] | None,
) -> SyncRun:
    log = SyncRunLog(run)
    own = connector is None
    conn = connector or get_metrics_connector(connector_key)
    conn.on_wait = log.heartbeat
    upserter = MetricsUpserter(log=log, on_page=on_page)
    wanted = [c for c in channels if c in conn.channels] if channels else None
    details: dict[str, Any] = {
        "demo": conn.demo,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "channels": wanted or list(conn.channels),
    }
    error, needs_reauth = "", False
    try:
        upserter.apply_pages(conn.fetch(since=since, until=until, channels=wanted))
    except AuthError as exc:
        error, needs_reauth = f"{exc} — the connection needs new credentials.", True
    except ConnectorError as exc:
        error = str(exc)
    except Exception as exc:
        logger.exception("Campaign metrics sync %s failed", connector_key)
        error = f"Internal error: {type(exc).__name__}: {exc}"
    finally:
        if own:
            conn.close()
    details.update(requests=conn.requests_made, revisions_flagged=upserter.flag_count, **conn.details)
    if upserter.flags:
        details["revisions"] = upserter.flags
    run = log.finish(error=error, details=details)
    connector_state_after_run(run=run, needs_reauth=needs_reauth, details={"demo": conn.demo})
    return run


def campaign_sync_request(
    *, actor: Actor, trigger: str, channels: list[str] | None = None, days: int | None = None
) -> list[SyncRun]:
    """Queue a metrics sync of each connector serving `channels` (default: all); returns the
    runs (a run already queued or in progress is returned instead of a second one)."""
    keys = connector_keys_for(channels)
    runs = []
    for key in keys:
        run, created = sync_run_queue(connector=key, scope=SCOPE, trigger=trigger)
        if created:
            enqueue(
                "campaigns.jobs.campaign_sync_one",
                key,
                trigger,
                run.pk,
                days,
                channels,
                task_name=f"campaign sync {run}",
            )
        runs.append(run)
    audit_record(
        actor=actor,
        action="campaign.sync_request",
        object_type="campaigns.campaign",
        object_repr="campaign metrics",
        changes={"runs": (None, [r.pk for r in runs]), "channels": (None, channels or "all"), "days": (None, days)},
    )
    return runs


def connector_keys_for(channels: list[str] | None) -> list[str]:
    wanted = {CHANNEL_CONNECTORS[c] for c in channels} if channels else set(METRICS_CONNECTORS)
    return [key for key in METRICS_CONNECTORS if key in wanted]


# --- a campaign's sponsor -----------------------------------------------------------------------
@transaction.atomic
def campaign_set_sponsor(*, campaign: Campaign, sponsor_id: int | None, actor: Actor) -> Campaign:
    """Link a campaign to a sponsor (or unlink it with None); audited. Raises ValidationError."""
    from sponsors.models import Sponsor

    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if sponsor_id is not None and not Sponsor.objects.filter(pk=sponsor_id).exists():
        raise ValidationError({"sponsor_id": "No such sponsor."})
    if campaign.sponsor_id == sponsor_id:
        return campaign
    before = campaign.sponsor_id
    campaign.sponsor_id = sponsor_id
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=["sponsor", "updated_at"])
    audit_record(actor=actor, action="campaign.update", obj=campaign, changes={"sponsor_id": (before, sponsor_id)})
    return campaign


# --- alert rules --------------------------------------------------------------------------------
RULE_FIELDS = (
    "name",
    "metric",
    "comparison",
    "threshold",
    "window_days",
    "channel",
    "campaign",
    "sponsor",
    "create_task",
    "is_active",
)
RULE_INPUTS = frozenset({*RULE_FIELDS, "campaign_id", "sponsor_id"})


def _audit_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.normalize())
    if hasattr(value, "pk"):
        return value.pk
    return value


@transaction.atomic
def alert_rule_create(*, actor: Actor, owner: Any, **fields: Any) -> AlertRule:
    """Create an alert rule owned by `owner` (who is notified). Raises ValidationError."""
    unknown = set(fields) - RULE_INPUTS
    if unknown:
        raise ValidationError(f"Unknown alert rule fields: {', '.join(sorted(unknown))}")
    rule = AlertRule(owner=owner, **fields)
    rule.name = " ".join(str(rule.name or "").split())[:200] or rule.describe()[:200]
    rule.full_clean()
    rule.save(force_insert=True)
    audit_record(
        actor=actor,
        action="campaign_alert_rule.create",
        obj=rule,
        changes={f: (None, _audit_value(getattr(rule, f))) for f in RULE_FIELDS},
    )
    return rule


@transaction.atomic
def alert_rule_update(*, rule: AlertRule, actor: Actor, **values: Any) -> AlertRule:
    """Partial update; a changed condition re-arms the rule (its firing states are cleared)."""
    unknown = set(values) - RULE_INPUTS
    if unknown:
        raise ValidationError(f"Unknown alert rule fields: {', '.join(sorted(unknown))}")
    rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
    changes = {f: (getattr(rule, f), v) for f, v in values.items() if getattr(rule, f) != v}
    if not changes:
        return rule
    for field, (_, new) in changes.items():
        setattr(rule, field, new)
    rule.full_clean()
    rule.save()
    if set(changes) & {"metric", "comparison", "threshold", "window_days", "channel", "campaign", "sponsor"}:
        rule.states.all().delete()
    audit_record(
        actor=actor,
        action="campaign_alert_rule.update",
        obj=rule,
        changes={f: (_audit_value(b), _audit_value(a)) for f, (b, a) in changes.items()},
    )
    return rule


@transaction.atomic
def alert_rule_delete(*, rule: AlertRule, actor: Actor) -> None:
    audit_record(actor=actor, action="campaign_alert_rule.delete", obj=rule, changes={"name": (rule.name, None)})
    rule.delete()


def system_actor() -> Actor:
    return Actor.system_job(SYNC_ACTOR, origin=ORIGIN_SYNC)
