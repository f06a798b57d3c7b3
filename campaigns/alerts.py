"""Alert evaluation, run after each metrics sync (and safe to run any number of times).

Each active rule is evaluated per campaign on the metric summed over its window (the last
`window_days` days up to `as_of`, included). A rule whose condition holds fires once — one
notification to its owner and, with create_task, one task for them linked to the campaign's
sponsor — and does not fire again until the condition has stopped holding (recovered). A
campaign with no value in the window (no rows, or a rate with a zero denominator) leaves the
state as it was. Evaluations of one rule are serialised by a row lock on the rule, and each
firing has its own notification dedupe key, so two workers cannot fire it twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from campaigns.models import AlertRule, AlertState, Campaign
from campaigns.selectors import day_filter, rate_expressions, sum_expressions
from campaigns.services import system_actor
from tasks.notifications import Kind, NotificationDraft, notifications_create

logger = logging.getLogger(__name__)

COMPARE = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}
PERCENT_METRICS = {"roi", "ctr", "conversion_rate"}
MONEY_METRICS = {"cost", "revenue", "cpc"}


@dataclass
class AlertOutcome:
    evaluated: int = 0
    fired: int = 0
    recovered: int = 0
    tasks: int = 0


def format_metric(metric: str, value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    if metric in PERCENT_METRICS:
        return f"{value * 100:.1f}%"
    if metric in MONEY_METRICS:
        return f"{value:,.2f}"
    return f"{value.normalize():,f}"


def rule_values(*, rule: AlertRule, as_of: dt.date) -> dict[int, Decimal | None]:
    """{campaign id: the rule's metric over its window} for campaigns with rows in it. One query."""
    since = as_of - dt.timedelta(days=rule.window_days - 1)
    qs = day_filter(date_from=since, date_to=as_of, channel=rule.channel or None, sponsor_id=rule.sponsor_id)
    if rule.campaign_id:
        qs = qs.filter(campaign_id=rule.campaign_id)
    rows = (
        qs.values("campaign_id")
        .annotate(**sum_expressions())
        .annotate(**rate_expressions())
        .values_list("campaign_id", rule.metric)
        .order_by("campaign_id")
    )
    return {campaign_id: (None if value is None else Decimal(value)) for campaign_id, value in rows}


def alerts_evaluate(*, as_of: dt.date | None = None, now: dt.datetime | None = None) -> AlertOutcome:
    """Evaluate every active rule; returns how many states fired and recovered."""
    as_of = as_of or timezone.localdate()
    now = now or timezone.now()
    outcome = AlertOutcome()
    for rule_id in AlertRule.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True):
        try:
            _evaluate_rule(rule_id=rule_id, as_of=as_of, now=now, outcome=outcome)
        except Exception:
            logger.exception("Could not evaluate campaign alert rule %s", rule_id)
    return outcome


@transaction.atomic
def _evaluate_rule(*, rule_id: int, as_of: dt.date, now: dt.datetime, outcome: AlertOutcome) -> None:
    rule = AlertRule.objects.select_for_update().select_related("owner").filter(pk=rule_id, is_active=True).first()
    if rule is None:
        return
    values = rule_values(rule=rule, as_of=as_of)
    states = {s.campaign_id: s for s in AlertState.objects.filter(rule=rule)}
    compare = COMPARE[rule.comparison]
    fired: list[AlertState] = []
    new_states: list[AlertState] = []
    changed: list[AlertState] = []
    for campaign_id, value in values.items():
        outcome.evaluated += 1
        state = states.get(campaign_id)
        if value is None:
            continue
        holds = compare(value, rule.threshold)
        if state is None:
            state = AlertState(rule=rule, campaign_id=campaign_id, evaluated_at=now)
            new_states.append(state)
        else:
            changed.append(state)
        state.last_value = value
        state.evaluated_at = now
        if holds and not state.firing:
            state.firing = True
            state.times_fired += 1
            state.fired_at = now
            fired.append(state)
        elif not holds and state.firing:
            state.firing = False
            state.recovered_at = now
            outcome.recovered += 1
    if new_states:
        AlertState.objects.bulk_create(new_states)
    if changed:
        AlertState.objects.bulk_update(
            changed, ["firing", "times_fired", "last_value", "fired_at", "recovered_at", "evaluated_at"]
        )
    if fired:
        _announce(rule=rule, fired=fired, as_of=as_of, now=now, outcome=outcome)


def _campaign_url(campaign_id: int) -> str:
    try:
        return reverse("campaign_detail", args=[campaign_id])
    except NoReverseMatch:
        return f"/campaigns/{campaign_id}/"


def _announce(*, rule: AlertRule, fired: list[AlertState], as_of: dt.date, now: dt.datetime, outcome: Any) -> None:
    campaigns = Campaign.objects.select_related("sponsor").in_bulk([s.campaign_id for s in fired])
    drafts = []
    for state in fired:
        campaign = campaigns[state.campaign_id]
        message = (
            f"{campaign.name} ({campaign.get_channel_display()}): {rule.get_metric_display()} is "
            f"{format_metric(rule.metric, state.last_value)}, {rule.get_comparison_display()} "
            f"{format_metric(rule.metric, rule.threshold)} over the last {rule.window_days} "
            f"day{'s' if rule.window_days != 1 else ''} (to {as_of:%d %b}) — rule “{rule.name}”."
        )
        drafts.append(
            NotificationDraft(
                recipient_id=rule.owner_id,
                kind=Kind.CAMPAIGN_ALERT,
                message=message,
                dedupe_key=f"campaign_alert:{rule.pk}:{campaign.pk}:{state.times_fired}",
                object_type="campaigns.campaign",
                object_id=str(campaign.pk),
                url=_campaign_url(campaign.pk),
                payload={
                    "rule_id": rule.pk,
                    "campaign_id": campaign.pk,
                    "metric": rule.metric,
                    "value": None if state.last_value is None else str(state.last_value),
                    "threshold": str(rule.threshold),
                    "window_days": rule.window_days,
                    "as_of": as_of.isoformat(),
                },
            )
        )
        if rule.create_task:
            _create_task(rule=rule, campaign=campaign, message=message)
            outcome.tasks += 1
    outcome.fired += len(fired)
    notifications_create(drafts=drafts, now=now)


def _create_task(*, rule: AlertRule, campaign: Campaign, message: str) -> None:
    from tasks.models import Task
    from tasks.services import task_create

    title = f"Campaign alert: {campaign.name} — {rule.get_metric_display()} {rule.get_comparison_display()} "
    title += format_metric(rule.metric, rule.threshold)
    task_create(
        actor=system_actor(),
        title=title[:255],
        description=message,
        priority=Task.Priority.HIGH,
        # The sponsor's owner handles it; without one, whoever set the rule.
        assignee=(campaign.sponsor.owner if campaign.sponsor and campaign.sponsor.owner_id else None) or rule.owner,
        sponsor=campaign.sponsor,
    )
