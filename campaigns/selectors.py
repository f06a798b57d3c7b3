"""Reads for campaign analytics. Every sum and every rate is computed by the database, and each
function runs a fixed number of queries whatever the number of campaigns or days.

Rates are derived from the sums of the period, never averaged from daily rates:
CTR = clicks / impressions, conversion rate = conversions / clicks, CPC = cost / clicks,
ROI = (revenue − cost) / cost. A zero denominator gives None ("n/a"), never an error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    BigIntegerField,
    DecimalField,
    Expression,
    F,
    FilteredRelation,
    Func,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import MONEY, AlertRule, AlertState, Campaign, CampaignDay, Channel, MetricRevision

COUNT_FIELDS = ("impressions", "clicks", "engagement")
DECIMAL_FIELDS = ("conversions", "cost", "revenue")
SUM_FIELDS = ("impressions", "clicks", "conversions", "engagement", "cost", "revenue")
RATE_FIELDS = ("ctr", "conversion_rate", "cpc", "roi")
CHANNELS = tuple(Channel.values)
RATE_PLACES = Decimal("0.000001")
CENT = Decimal("0.01")
# Sort keys of the campaign list (a leading "-" sorts descending; rates with no value go last).
ORDER_KEYS = ("name", "channel", "sponsor", *SUM_FIELDS, *RATE_FIELDS)


class Ratio(Func):
    """numerator / denominator as an exact decimal (PostgreSQL numeric), NULL when the
    denominator is 0. SQLite has no exact decimals: it divides as REAL."""

    arity = 2
    output_field = DecimalField(max_digits=40, decimal_places=12)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        numerator, denominator = self.get_source_expressions()
        num_sql, num_params = compiler.compile(numerator)
        den_sql, den_params = compiler.compile(denominator)
        cast = "REAL" if connection.vendor == "sqlite" else "NUMERIC"
        return f"(CAST({num_sql} AS {cast}) / NULLIF({den_sql}, 0))", [*num_params, *den_params]


def _sum(path: str, field: str) -> Expression:
    if field in DECIMAL_FIELDS:
        places = 2 if field == "conversions" else MONEY["decimal_places"]
        output = DecimalField(max_digits=30, decimal_places=places)
        return Coalesce(Sum(path), Value(Decimal(0)), output_field=output)
    return Coalesce(Sum(path), Value(0), output_field=BigIntegerField())


def sum_expressions(prefix: str = "", *, filter: Q | None = None) -> dict[str, Expression]:
    """{field: SUM over the rows} for each metric, 0 when there are none."""
    sums = {}
    for field in SUM_FIELDS:
        path = f"{prefix}{field}"
        sums[field] = (
            _sum(path, field)
            if filter is None
            else Coalesce(Sum(path, filter=filter), _zero(field), output_field=_sum(path, field).output_field)
        )
    return sums


def _zero(field: str) -> Value:
    return Value(Decimal(0)) if field in DECIMAL_FIELDS else Value(0)


def rate_expressions(sums: dict[str, Any] | None = None) -> dict[str, Expression]:
    """The rates derived from sums (aggregate expressions, or the names of annotated ones)."""
    s = sums or {name: F(name) for name in SUM_FIELDS}
    return {
        "ctr": Ratio(s["clicks"], s["impressions"]),
        "conversion_rate": Ratio(s["conversions"], s["clicks"]),
        "cpc": Ratio(s["cost"], s["clicks"]),
        "roi": Ratio(s["revenue"] - s["cost"], s["cost"]),
    }


@dataclass(frozen=True)
class Totals:
    """Sums and rates of a set of daily rows, rounded for display: money and conversions to the
    cent, rates to six places (None: not defined, e.g. ROI with no spend)."""

    impressions: int
    clicks: int
    conversions: Decimal
    engagement: int
    cost: Decimal
    revenue: Decimal
    ctr: Decimal | None
    conversion_rate: Decimal | None
    cpc: Decimal | None
    roi: Decimal | None

    @classmethod
    def from_row(cls, row: Any) -> Totals:
        get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
        return cls(
            impressions=int(get("impressions") or 0),
            clicks=int(get("clicks") or 0),
            conversions=money(get("conversions")),
            engagement=int(get("engagement") or 0),
            cost=money(get("cost")),
            revenue=money(get("revenue")),
            ctr=rate(get("ctr")),
            conversion_rate=rate(get("conversion_rate")),
            cpc=money_rate(get("cpc")),
            roi=rate(get("roi")),
        )

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*SUM_FIELDS, *RATE_FIELDS)}


def money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def rate(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def money_rate(value: Any) -> Decimal | None:
    """CPC: money per click, to the ten-thousandth (a CPC of 0.0042 is not 0.00)."""
    return None if value is None else Decimal(value).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


# --- filters ------------------------------------------------------------------------------------
def campaign_filter(
    *, channel: str | None = None, sponsor_id: int | None = None, q: str | None = None
) -> QuerySet[Campaign]:
    qs = Campaign.objects.all()
    if channel:
        qs = qs.filter(channel=channel)
    if sponsor_id is not None:
        qs = qs.filter(sponsor_id=sponsor_id)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(external_id=q))
    return qs


def day_filter(
    *, date_from: dt.date, date_to: dt.date, channel: str | None = None, sponsor_id: int | None = None
) -> QuerySet[CampaignDay]:
    qs = CampaignDay.objects.filter(date__gte=date_from, date__lte=date_to)
    if channel:
        qs = qs.filter(campaign__channel=channel)
    if sponsor_id is not None:
        qs = qs.filter(campaign__sponsor_id=sponsor_id)
    return qs


# --- the campaign list --------------------------------------------------------------------------
def _order_by(order: str) -> list[Any]:
    descending = order.startswith("-")
    key = order.lstrip("-")
    if key not in ORDER_KEYS:
        raise ValueError(f"Unknown order {order!r}.")
    target = {"sponsor": "sponsor__name"}.get(key, key)
    expression = F(target).desc(nulls_last=True) if descending else F(target).asc(nulls_last=True)
    return [expression, "id"]


def campaign_list(
    *,
    date_from: dt.date,
    date_to: dt.date,
    channel: str | None = None,
    sponsor_id: int | None = None,
    q: str | None = None,
    order: str = "-cost",
) -> QuerySet[Campaign]:
    """Campaigns with their totals and rates over [date_from, date_to] (campaigns without a row
    in the range count zero), sorted by `order` (see ORDER_KEYS). One query per slice; count
    with campaign_count(). Raises ValueError for an unknown order."""
    period = FilteredRelation("days", condition=Q(days__date__gte=date_from, days__date__lte=date_to))
    sums = sum_expressions("period__")
    return (
        campaign_filter(channel=channel, sponsor_id=sponsor_id, q=q)
        # Only the columns shown: the rows the database groups and sorts stay narrow.
        .only("id", "channel", "external_id", "name", "status", "currency", "sponsor_id")
        .annotate(sponsor_name=F("sponsor__name"), period=period)
        .annotate(**sums)
        .annotate(**rate_expressions())
        .order_by(*_order_by(order))
    )


def campaign_count(*, channel: str | None = None, sponsor_id: int | None = None, q: str | None = None) -> int:
    return campaign_filter(channel=channel, sponsor_id=sponsor_id, q=q).count()


def campaign_get(*, campaign_id: int, date_from: dt.date, date_to: dt.date) -> Campaign:
    """One campaign with its totals and rates over the range. Raises Campaign.DoesNotExist."""
    return campaign_list(date_from=date_from, date_to=date_to).get(pk=campaign_id)


def campaign_daily(*, campaign: Campaign, date_from: dt.date, date_to: dt.date) -> list[dict[str, Any]]:
    """The campaign's days in the range (only days the platform reported), with each day's rates."""
    rows = (
        CampaignDay.objects.filter(campaign=campaign, date__gte=date_from, date__lte=date_to)
        .annotate(**rate_expressions({name: F(name) for name in SUM_FIELDS}))
        .order_by("date")
        .values("date", *SUM_FIELDS, *RATE_FIELDS)
    )
    return [{"date": row["date"], **Totals.from_row(row).as_dict()} for row in rows]


def campaign_revisions(*, campaign: Campaign, limit: int = 20) -> list[MetricRevision]:
    return list(MetricRevision.objects.filter(campaign=campaign).order_by("-created_at", "-id")[:limit])


# --- per channel --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    date_from: dt.date
    date_to: dt.date
    channels: list[tuple[str, Totals]]
    total: Totals


def channel_summary(
    *, date_from: dt.date, date_to: dt.date, channel: str | None = None, sponsor_id: int | None = None
) -> Summary:
    """Totals and rates per channel over the range, plus the grand total: one query. Every
    channel asked for is listed, with zeros when it has no row."""
    sums = sum_expressions()
    rows = list(
        day_filter(date_from=date_from, date_to=date_to, channel=channel, sponsor_id=sponsor_id)
        .values(channel_key=F("campaign__channel"))
        .annotate(**sums)
        .annotate(**rate_expressions())
        .order_by("channel_key")
    )
    by_channel = {row["channel_key"]: Totals.from_row(row) for row in rows}
    wanted = [channel] if channel else list(CHANNELS)
    empty = Totals.from_row(dict.fromkeys((*SUM_FIELDS, *RATE_FIELDS)))
    return Summary(
        date_from=date_from,
        date_to=date_to,
        channels=[(key, by_channel.get(key, empty)) for key in wanted],
        total=_total(rows),
    )


def _total(rows: list[dict[str, Any]]) -> Totals:
    """The grand total of per-channel sums the database computed: exact additions of at most
    four rows; its rates follow the same definitions."""
    sums: dict[str, Any] = {name: sum((row[name] or 0 for row in rows), start=_start(name)) for name in SUM_FIELDS}

    def ratio(numerator: Any, denominator: Any) -> Decimal | None:
        return None if not denominator else Decimal(numerator) / Decimal(denominator)

    return Totals.from_row(
        {
            **sums,
            "ctr": ratio(sums["clicks"], sums["impressions"]),
            "conversion_rate": ratio(sums["conversions"], sums["clicks"]),
            "cpc": ratio(sums["cost"], sums["clicks"]),
            "roi": ratio(sums["revenue"] - sums["cost"], sums["cost"]),
        }
    )


def _start(name: str) -> Any:
    return Decimal(0) if name in DECIMAL_FIELDS else 0


def channel_daily(
    *, date_from: dt.date, date_to: dt.date, channel: str | None = None, sponsor_id: int | None = None
) -> list[dict[str, Any]]:
    """Per day and channel: spend, revenue and ROI (the charts). One query."""
    rows = (
        day_filter(date_from=date_from, date_to=date_to, channel=channel, sponsor_id=sponsor_id)
        .values("date", channel_key=F("campaign__channel"))
        .annotate(**sum_expressions())
        .annotate(**rate_expressions())
        .order_by("date", "channel_key")
    )
    return [{"date": r["date"], "channel": r["channel_key"], **Totals.from_row(r).as_dict()} for r in rows]


def previous_period(date_from: dt.date, date_to: dt.date) -> tuple[dt.date, dt.date]:
    """The period of the same length just before [date_from, date_to]."""
    length = (date_to - date_from).days + 1
    return date_from - dt.timedelta(days=length), date_from - dt.timedelta(days=1)


DEFAULT_DAYS = 30
MAX_RANGE_DAYS = 3 * 366
MIN_DATE = dt.date(2000, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)


class BadRange(ValueError):
    """A date range that cannot be reported on (reversed, too long or out of bounds)."""


def resolve_range(
    date_from: dt.date | None, date_to: dt.date | None, *, today: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """The range asked for, with defaults: up to today, the last DEFAULT_DAYS days. Raises BadRange."""
    date_to = date_to or min(max(today or timezone.localdate(), MIN_DATE), MAX_DATE)
    date_from = date_from or max(date_to - dt.timedelta(days=DEFAULT_DAYS - 1), MIN_DATE)
    for value in (date_from, date_to):
        if not MIN_DATE <= value <= MAX_DATE:
            raise BadRange(f"Dates must be between {MIN_DATE} and {MAX_DATE}.")
    if date_from > date_to:
        raise BadRange("date_from must not be after date_to.")
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise BadRange(f"A range covers at most {MAX_RANGE_DAYS} days.")
    return date_from, date_to


def alert_rules(*, owner_id: int | None = None) -> tuple[list[AlertRule], dict[int, list[int]]]:
    """The alert rules (with owner, campaign and sponsor) and, per rule, the campaigns it is
    firing for. Two queries."""
    qs = AlertRule.objects.select_related("owner", "campaign", "sponsor").order_by("name", "id")
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    rules = list(qs)
    firing: dict[int, list[int]] = {}
    states = AlertState.objects.filter(rule__in=[r.pk for r in rules], firing=True).order_by("rule_id", "campaign_id")
    for rule_id, campaign_id in states.values_list("rule_id", "campaign_id"):
        firing.setdefault(rule_id, []).append(campaign_id)
    return rules, firing
