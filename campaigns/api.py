"""/api/v1/campaigns: campaign analytics, insights, alert rules and a sync on demand (thin).

Money and conversions are exact decimals, sent as JSON strings ("1234.50"); rates are numbers
(0.0123 = 1.23 %), null when undefined (ROI with no spend, CTR with no impressions).
Fixed paths (summary, insights, sync, alerts) are declared before /campaigns/{campaign_id}.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict, Strict

from accounts.actor import ORIGIN_API, Actor
from campaigns import selectors, services
from campaigns.insights import campaign_insights
from campaigns.models import AlertRule, Campaign, Channel
from integrations.models import SyncRun
from tracker_project.api_errors import ApiError, django_validation_details, reject_unknown_query
from tracker_project.api_fields import BodyDbId, DbId, SafeText
from tracker_project.api_schemas import error_responses

router = Router(tags=["campaigns"])

ChannelT = Literal["facebook", "instagram", "google_ads", "tiktok"]
OrderT = Literal[
    "name", "-name", "channel", "-channel", "sponsor", "-sponsor",
    "impressions", "-impressions", "clicks", "-clicks", "conversions", "-conversions",
    "engagement", "-engagement", "cost", "-cost", "revenue", "-revenue",
    "ctr", "-ctr", "conversion_rate", "-conversion_rate", "cpc", "-cpc", "roi", "-roi",
]  # fmt: skip
Day = Annotated[dt.date, Field(ge=selectors.MIN_DATE, le=selectors.MAX_DATE)]
CHANNEL_LABELS = dict(Channel.choices)


# --- schemas ------------------------------------------------------------------------------------
class TotalsOut(Schema):
    impressions: int
    clicks: int
    conversions: Decimal
    engagement: int
    cost: Decimal = Field(description="Spend, in the campaign's currency.")
    revenue: Decimal
    ctr: float | None = Field(description="clicks / impressions")
    conversion_rate: float | None = Field(description="conversions / clicks")
    cpc: Decimal | None = Field(description="cost / clicks")
    roi: float | None = Field(description="(revenue − cost) / cost; null with no spend")


class RangeQuery(Schema):
    date_from: Day | None = Field(None, description="First day (default: 29 days before date_to).")
    date_to: Day | None = Field(None, description="Last day, included (default: today).")
    channel: ChannelT | None = None
    sponsor_id: DbId | None = None


class CampaignListQuery(RangeQuery):
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=10_000_000)
    order: OrderT = Field("-cost", description='Sort key; "-" for descending. Rates without a value sort last.')
    q: Annotated[SafeText, Field(max_length=200)] | None = Field(None, description="Name contains, or exact id.")


class SummaryQuery(RangeQuery):
    compare: bool = Field(False, description="Also the previous period of the same length.")


class DetailQuery(Schema):
    date_from: Day | None = None
    date_to: Day | None = None


class CampaignOut(Schema):
    id: int
    channel: ChannelT
    external_id: str
    name: str
    status: str
    currency: str
    sponsor_id: int | None
    sponsor_name: str | None
    totals: TotalsOut


class CampaignListOut(Schema):
    date_from: dt.date
    date_to: dt.date
    items: list[CampaignOut]
    count: int


class DayOut(TotalsOut):
    date: dt.date


class RevisionOut(Schema):
    date: dt.date
    metric: str
    old_value: Decimal
    new_value: Decimal
    change: Decimal | None
    message: str
    created_at: dt.datetime


class CampaignDetailOut(CampaignOut):
    date_from: dt.date
    date_to: dt.date
    daily: list[DayOut]
    revisions: list[RevisionOut]


class ChannelTotalsOut(Schema):
    channel: ChannelT
    label: str
    totals: TotalsOut


class PeriodOut(Schema):
    date_from: dt.date
    date_to: dt.date
    channels: list[ChannelTotalsOut]
    total: TotalsOut


class SummaryOut(PeriodOut):
    previous: PeriodOut | None = None


class InsightOut(Schema):
    kind: Literal["best_channel", "worst_channel", "mover_up", "mover_down", "anomaly"]
    title: str
    numbers: dict[str, Any]
    campaign_id: int | None
    channel: ChannelT | None


class InsightsOut(Schema):
    date_from: dt.date
    date_to: dt.date
    insights: list[InsightOut]


class CampaignSyncIn(Schema):
    model_config = ConfigDict(extra="forbid")

    channels: list[ChannelT] | None = Field(None, max_length=4, description="Default: every channel.")
    days: Annotated[int, Strict(), Field(ge=1, le=services.MAX_LOOKBACK_DAYS)] | None = Field(
        None, description="Look-back window in days (default: CAMPAIGN_LOOKBACK_DAYS, 7)."
    )


class CampaignSyncRunOut(Schema):
    id: int
    connector: str
    status: str
    trigger: str
    queued: bool
    started_at: dt.datetime


class CampaignSyncAcceptedOut(Schema):
    run_ids: list[int]
    runs: list[CampaignSyncRunOut]


MetricT = Literal["roi", "cpc", "ctr", "conversion_rate", "cost", "revenue", "conversions", "clicks", "impressions"]
ComparisonT = Literal["lt", "lte", "gt", "gte"]


class AlertRuleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[SafeText, Field(max_length=200)] = ""
    metric: MetricT
    comparison: ComparisonT
    threshold: Annotated[Decimal, Field(ge=Decimal("-1e13"), le=Decimal("1e13"), decimal_places=6, allow_inf_nan=False)]
    window_days: Annotated[int, Strict(), Field(ge=1, le=90)] = 3
    channel: ChannelT | None = None
    campaign_id: BodyDbId | None = None
    sponsor_id: BodyDbId | None = None
    create_task: Annotated[bool, Strict()] = False


class AlertRulePatch(Schema):
    """Only the fields sent change; a changed condition re-arms the rule."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[SafeText, Field(max_length=200)] | None = None
    metric: MetricT | None = None
    comparison: ComparisonT | None = None
    threshold: (
        Annotated[Decimal, Field(ge=Decimal("-1e13"), le=Decimal("1e13"), decimal_places=6, allow_inf_nan=False)] | None
    ) = None
    window_days: Annotated[int, Strict(), Field(ge=1, le=90)] | None = None
    channel: ChannelT | None = None
    campaign_id: BodyDbId | None = None
    sponsor_id: BodyDbId | None = None
    create_task: Annotated[bool, Strict()] | None = None
    is_active: Annotated[bool, Strict()] | None = None


class AlertRuleOut(Schema):
    id: int
    name: str
    description: str
    owner: str
    metric: MetricT
    comparison: ComparisonT
    threshold: Decimal
    window_days: int
    channel: ChannelT | None
    campaign_id: int | None
    sponsor_id: int | None
    create_task: bool
    is_active: bool
    firing_campaign_ids: list[int]


# --- helpers ------------------------------------------------------------------------------------
def _range(date_from: dt.date | None, date_to: dt.date | None) -> tuple[dt.date, dt.date]:
    try:
        return selectors.resolve_range(date_from, date_to)
    except selectors.BadRange as exc:
        raise ApiError(422, [{"loc": ["query", "date_from"], "msg": str(exc)}]) from None


def totals_out(totals: selectors.Totals) -> dict[str, Any]:
    out: dict[str, Any] = totals.as_dict()
    for name in ("ctr", "conversion_rate", "roi"):
        out[name] = None if out[name] is None else float(out[name])
    return out


def campaign_out(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.pk,
        "channel": campaign.channel,
        "external_id": campaign.external_id,
        "name": campaign.name,
        "status": campaign.status,
        "currency": campaign.currency,
        "sponsor_id": campaign.sponsor_id,
        "sponsor_name": getattr(campaign, "sponsor_name", None),
        "totals": totals_out(selectors.Totals.from_row(campaign)),
    }


def _period_out(summary: selectors.Summary) -> dict[str, Any]:
    return {
        "date_from": summary.date_from,
        "date_to": summary.date_to,
        "channels": [
            {"channel": key, "label": CHANNEL_LABELS[key], "totals": totals_out(t)} for key, t in summary.channels
        ],
        "total": totals_out(summary.total),
    }


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, origin=ORIGIN_API)


# --- endpoints ----------------------------------------------------------------------------------
@router.get("/campaigns", response={200: CampaignListOut, **error_responses()}, summary="Campaigns with totals")
def list_campaigns(request: HttpRequest, params: Query[CampaignListQuery]) -> dict[str, Any]:
    reject_unknown_query(request, CampaignListQuery)
    date_from, date_to = _range(params.date_from, params.date_to)
    filters = {"channel": params.channel, "sponsor_id": params.sponsor_id, "q": params.q}
    qs = selectors.campaign_list(date_from=date_from, date_to=date_to, order=params.order, **filters)
    return {
        "date_from": date_from,
        "date_to": date_to,
        "items": [campaign_out(c) for c in qs[params.offset : params.offset + params.limit]],
        "count": selectors.campaign_count(**filters),
    }


@router.get(
    "/campaigns/summary",
    response={200: SummaryOut, **error_responses()},
    summary="Totals and rates per channel over a date range",
)
def campaigns_summary(request: HttpRequest, params: Query[SummaryQuery]) -> dict[str, Any]:
    reject_unknown_query(request, SummaryQuery)
    date_from, date_to = _range(params.date_from, params.date_to)
    filters = {"channel": params.channel, "sponsor_id": params.sponsor_id}
    out = _period_out(selectors.channel_summary(date_from=date_from, date_to=date_to, **filters))
    if params.compare:
        prev_from, prev_to = selectors.previous_period(date_from, date_to)
        out["previous"] = _period_out(selectors.channel_summary(date_from=prev_from, date_to=prev_to, **filters))
    return out


@router.get(
    "/campaigns/insights",
    response={200: InsightsOut, **error_responses()},
    summary="Plain-language insights: best and worst channel, week-over-week movers, anomalies",
)
def campaigns_insights(request: HttpRequest, params: Query[RangeQuery]) -> dict[str, Any]:
    reject_unknown_query(request, RangeQuery)
    date_from, date_to = _range(params.date_from, params.date_to)
    insights = campaign_insights(
        date_from=date_from, date_to=date_to, channel=params.channel, sponsor_id=params.sponsor_id
    )
    return {"date_from": date_from, "date_to": date_to, "insights": [i.as_dict() for i in insights]}


@router.post(
    "/campaigns/sync",
    response={202: CampaignSyncAcceptedOut, **error_responses()},
    summary="Sync campaign metrics now (queued; poll GET /sync/runs/{id})",
)
def sync_campaigns(request: HttpRequest, payload: CampaignSyncIn | None = None) -> Status[dict[str, Any]]:
    channels = list(dict.fromkeys(payload.channels)) if payload is not None and payload.channels else None
    days = payload.days if payload is not None else None
    runs = services.campaign_sync_request(
        actor=_actor(request), trigger=SyncRun.Trigger.API, channels=channels, days=days
    )
    briefs = [
        {
            "id": r.pk,
            "connector": r.connector,
            "status": r.status,
            "trigger": r.trigger,
            "queued": r.is_queued,
            "started_at": r.started_at,
        }
        for r in runs
    ]
    return Status(202, {"run_ids": [r.pk for r in runs], "runs": briefs})


def _rule_out(rule: AlertRule, firing: list[int]) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "description": rule.describe(),
        "owner": str(rule.owner),
        "metric": rule.metric,
        "comparison": rule.comparison,
        "threshold": rule.threshold,
        "window_days": rule.window_days,
        "channel": rule.channel or None,
        "campaign_id": rule.campaign_id,
        "sponsor_id": rule.sponsor_id,
        "create_task": rule.create_task,
        "is_active": rule.is_active,
        "firing_campaign_ids": firing,
    }


@router.get("/campaigns/alerts", response={200: list[AlertRuleOut], **error_responses()}, summary="Alert rules")
def list_alert_rules(request: HttpRequest) -> list[dict[str, Any]]:
    reject_unknown_query(request)
    rules, firing = selectors.alert_rules()
    return [_rule_out(rule, firing.get(rule.pk, [])) for rule in rules]


@router.post(
    "/campaigns/alerts", response={201: AlertRuleOut, **error_responses(403)}, summary="Create an alert rule (yours)"
)
def create_alert_rule(request: HttpRequest, payload: AlertRuleIn) -> Status[dict[str, Any]]:
    actor = _actor(request)
    if actor.user is None:
        raise ApiError(403, "Alert rules belong to a user.")
    values = payload.model_dump()
    values["channel"] = values["channel"] or ""
    try:
        rule = services.alert_rule_create(actor=actor, owner=actor.user, **values)
    except ValidationError as exc:
        raise ApiError(422, django_validation_details(exc)) from None
    return Status(201, _rule_out(rule, []))


def _own_rule(request: HttpRequest, rule_id: int, *, verb: str) -> tuple[AlertRule, Actor]:
    rule = AlertRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise ApiError(404, f"No alert rule with id {rule_id}.")
    actor = _actor(request)
    if not (actor.user is not None and (actor.user.pk == rule.owner_id or actor.user.is_staff)):
        raise ApiError(403, f"Only the rule's owner (or staff) can {verb} it.")
    return rule, actor


@router.patch(
    "/campaigns/alerts/{rule_id}",
    response={200: AlertRuleOut, **error_responses(403, 404)},
    summary="Change an alert rule (a changed condition re-arms it)",
)
def patch_alert_rule(request: HttpRequest, rule_id: DbId, payload: AlertRulePatch) -> dict[str, Any]:
    rule, actor = _own_rule(request, rule_id, verb="change")
    sent = payload.model_dump(exclude_unset=True)
    for name in ("metric", "comparison", "threshold", "window_days", "create_task", "is_active"):
        if name in sent and sent[name] is None:
            raise ApiError(422, [{"loc": ["body", name], "msg": f"{name} cannot be null."}])
    if "channel" in sent:
        sent["channel"] = sent["channel"] or ""
    if "name" in sent:
        sent["name"] = " ".join(str(sent["name"] or "").split())[:200] or rule.describe()[:200]
    try:
        rule = services.alert_rule_update(rule=rule, actor=actor, **sent)
    except ValidationError as exc:
        raise ApiError(422, django_validation_details(exc)) from None
    _rules, firing = selectors.alert_rules()
    return _rule_out(rule, firing.get(rule.pk, []))


@router.delete(
    "/campaigns/alerts/{rule_id}", response={204: None, **error_responses(403, 404)}, summary="Delete an alert rule"
)
def delete_alert_rule(request: HttpRequest, rule_id: DbId) -> Status[None]:
    rule, actor = _own_rule(request, rule_id, verb="delete")
    services.alert_rule_delete(rule=rule, actor=actor)
    return Status(204, None)


@router.get(
    "/campaigns/{campaign_id}",
    response={200: CampaignDetailOut, **error_responses(404)},
    summary="One campaign with its totals and daily series",
)
def get_campaign(request: HttpRequest, campaign_id: DbId, params: Query[DetailQuery]) -> dict[str, Any]:
    reject_unknown_query(request, DetailQuery)
    date_from, date_to = _range(params.date_from, params.date_to)
    try:
        campaign = selectors.campaign_get(campaign_id=campaign_id, date_from=date_from, date_to=date_to)
    except Campaign.DoesNotExist:
        raise ApiError(404, f"No campaign with id {campaign_id}.") from None
    daily = selectors.campaign_daily(campaign=campaign, date_from=date_from, date_to=date_to)
    for day in daily:
        for name in ("ctr", "conversion_rate", "roi"):
            day[name] = None if day[name] is None else float(day[name])
    return {
        **campaign_out(campaign),
        "date_from": date_from,
        "date_to": date_to,
        "daily": daily,
        "revisions": [
            {
                "date": r.date,
                "metric": r.metric,
                "old_value": r.old_value,
                "new_value": r.new_value,
                "change": r.change,
                "message": r.message,
                "created_at": r.created_at,
            }
            for r in selectors.campaign_revisions(campaign=campaign)
        ],
    }
