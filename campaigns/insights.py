"""Plain-language insights about a period: deterministic analysis, no language model.

1. Best and worst channel by ROI over the period (channels with spend).
2. Week-over-week movers: campaigns whose spend or conversions in the last 7 days of the period
   moved most against the 7 days before (only from a meaningful base).
3. Anomalies: a day in the last 7 days of the period far outside the campaign's previous 28
   days (|z| ≥ ANOMALY_Z on spend or conversions, with at least 14 days of history).

Each insight carries the numbers behind it. Sums, means and variances are computed by the
database (3 queries in all); ordering is total (ties broken by ids), so the same data always
gives the same insights.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Avg, Count, F, Q, Window
from django.db.models.expressions import RowRange
from django.db.models.functions import RowNumber

from campaigns.models import Campaign, Channel
from campaigns.selectors import Ratio, Summary, channel_summary, day_filter, sum_expressions

WEEK = 7
HISTORY = 28
MIN_HISTORY = 14
ANOMALY_Z = Decimal(3)
MOVER_MIN_BASE = {"cost": Decimal(50), "conversions": Decimal(5)}
MOVER_MIN_CHANGE = Decimal("0.25")
MAX_MOVERS = 3
MAX_ANOMALIES = 5
CHANNEL_LABELS = dict(Channel.choices)
METRIC_LABELS = {"cost": "spend", "conversions": "conversions"}


@dataclass(frozen=True)
class Insight:
    kind: str  # best_channel | worst_channel | mover_up | mover_down | anomaly
    title: str
    numbers: dict[str, Any] = field(default_factory=dict)
    campaign_id: int | None = None
    channel: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "numbers": self.numbers,
            "campaign_id": self.campaign_id,
            "channel": self.channel,
        }


def _pct(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def _signed_pct(value: Decimal) -> str:
    text = _pct(value)
    return text if text.startswith("-") else f"+{text}"


def _num(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def channel_insights(summary: Summary) -> list[Insight]:
    ranked = [(key, t) for key, t in summary.channels if t.roi is not None and t.cost > 0]
    if len(ranked) < 2:
        return []
    ranked.sort(key=lambda item: (-item[1].roi, item[0]))  # type: ignore[operator]
    out = []
    for kind, (key, totals) in (("best_channel", ranked[0]), ("worst_channel", ranked[-1])):
        word = "Best" if kind == "best_channel" else "Worst"
        out.append(
            Insight(
                kind=kind,
                title=f"{word} channel by ROI: {CHANNEL_LABELS[key]} at {_pct(totals.roi)} "  # type: ignore[arg-type]
                f"({_num(totals.revenue)} revenue on {_num(totals.cost)} spend).",
                numbers={"roi": totals.roi, "cost": totals.cost, "revenue": totals.revenue},
                channel=key,
            )
        )
    return out


def mover_rows(*, date_to: dt.date, channel: str | None, sponsor_id: int | None) -> list[tuple[Any, ...]]:
    """(campaign id, metric, this week, last week, change) of the biggest movers. One query."""
    this_from = date_to - dt.timedelta(days=WEEK - 1)
    last_from = this_from - dt.timedelta(days=WEEK)
    this_week = Q(date__gte=this_from)
    last_week = Q(date__lt=this_from)
    rows = (
        day_filter(date_from=last_from, date_to=date_to, channel=channel, sponsor_id=sponsor_id)
        .values("campaign_id")
        .annotate(**{f"this_{k}": v for k, v in sum_expressions(filter=this_week).items() if k in MOVER_MIN_BASE})
        .annotate(**{f"last_{k}": v for k, v in sum_expressions(filter=last_week).items() if k in MOVER_MIN_BASE})
        .annotate(
            cost_change=Ratio(F("this_cost") - F("last_cost"), F("last_cost")),
            conversions_change=Ratio(F("this_conversions") - F("last_conversions"), F("last_conversions")),
        )
        .order_by("campaign_id")
    )
    candidates = []
    for row in rows:
        for metric, base in MOVER_MIN_BASE.items():
            change = row[f"{metric}_change"]
            if change is None or Decimal(row[f"last_{metric}"]) < base:
                continue
            change = Decimal(change).quantize(Decimal("0.0001"), ROUND_HALF_UP)
            if abs(change) >= MOVER_MIN_CHANGE:
                candidates.append((row, metric, change))
    candidates.sort(key=lambda c: (-abs(c[2]), c[0]["campaign_id"], c[1]))
    return [
        (row["campaign_id"], metric, Decimal(row[f"this_{metric}"]), Decimal(row[f"last_{metric}"]), change)
        for row, metric, change in candidates[:MAX_MOVERS]
    ]


def mover_insights(rows: list[tuple[Any, ...]], *, date_to: dt.date, names: dict[int, Campaign]) -> list[Insight]:
    this_from = date_to - dt.timedelta(days=WEEK - 1)
    last_from = this_from - dt.timedelta(days=WEEK)
    out = []
    for campaign_id, metric, this, last, change in rows:
        campaign = names.get(campaign_id)
        name = campaign.name if campaign else f"Campaign {campaign_id}"
        out.append(
            Insight(
                kind="mover_up" if change > 0 else "mover_down",
                title=f"{name}: {METRIC_LABELS[metric]} {_signed_pct(change)} week over week "
                f"({_num(this)} vs {_num(last)}).",
                numbers={
                    "metric": metric,
                    "this_week": this.quantize(Decimal("0.01")),
                    "last_week": last.quantize(Decimal("0.01")),
                    "change": change,
                    "this_week_from": this_from,
                    "last_week_from": last_from,
                },
                campaign_id=campaign_id,
                channel=campaign.channel if campaign else None,
            )
        )
    return out


def anomaly_rows(*, date_to: dt.date, channel: str | None, sponsor_id: int | None) -> list[tuple[Any, ...]]:
    """(campaign id, date, metric, value, mean, z, history days) of the strongest anomalies. One query."""
    recent_from = date_to - dt.timedelta(days=WEEK - 1)
    history_from = recent_from - dt.timedelta(days=HISTORY)
    frame = RowRange(start=-HISTORY, end=-1)
    partition = {"partition_by": [F("campaign_id")], "order_by": [F("date").asc()], "frame": frame}
    rows = (
        day_filter(date_from=history_from, date_to=date_to, channel=channel, sponsor_id=sponsor_id)
        .annotate(
            n=Window(Count("id"), **partition),
            cost_mean=Window(Avg("cost"), **partition),
            cost_sq=Window(Avg(F("cost") * F("cost")), **partition),
            conv_mean=Window(Avg("conversions"), **partition),
            conv_sq=Window(Avg(F("conversions") * F("conversions")), **partition),
            newest=Window(RowNumber(), partition_by=[F("campaign_id")], order_by=[F("date").desc()]),
        )
        .filter(newest__lte=WEEK)
        .values("campaign_id", "date", "cost", "conversions", "n", "cost_mean", "cost_sq", "conv_mean", "conv_sq")
        .order_by("campaign_id", "date")
    )
    found = []
    for row in rows:
        if row["date"] < recent_from or (row["n"] or 0) < MIN_HISTORY:
            continue
        for metric, mean_key, sq_key in (("cost", "cost_mean", "cost_sq"), ("conversions", "conv_mean", "conv_sq")):
            mean, mean_sq = Decimal(row[mean_key] or 0), Decimal(row[sq_key] or 0)
            variance = max(mean_sq - mean * mean, Decimal(0))
            spread = max(variance.sqrt(), abs(mean) * Decimal("0.05"), Decimal("0.01"))
            value = Decimal(row[metric])
            z = ((value - mean) / spread).quantize(Decimal("0.01"), ROUND_HALF_UP)
            if abs(z) >= ANOMALY_Z and abs(value - mean) >= (Decimal(1) if metric == "conversions" else Decimal(5)):
                found.append((row, metric, value, mean, z))
    found.sort(key=lambda f: (-abs(f[4]), f[0]["campaign_id"], f[0]["date"], f[1]))
    return [
        (row["campaign_id"], row["date"], metric, value, mean, z, row["n"])
        for row, metric, value, mean, z in found[:MAX_ANOMALIES]
    ]


def anomaly_insights(rows: list[tuple[Any, ...]], *, names: dict[int, Campaign]) -> list[Insight]:
    out = []
    for campaign_id, day, metric, value, mean, z, history in rows:
        campaign = names.get(campaign_id)
        name = campaign.name if campaign else f"Campaign {campaign_id}"
        direction = "above" if z > 0 else "below"
        out.append(
            Insight(
                kind="anomaly",
                title=f"{name}: {METRIC_LABELS[metric]} on {day:%d %b} was {_num(value)}, far {direction} "
                f"its 28-day average of {_num(mean)} (z = {z}).",
                numbers={
                    "metric": metric,
                    "date": day,
                    "value": value.quantize(Decimal("0.01")),
                    "mean": mean.quantize(Decimal("0.01"), ROUND_HALF_UP),
                    "z": z,
                    "history_days": history,
                },
                campaign_id=campaign_id,
                channel=campaign.channel if campaign else None,
            )
        )
    return out


def campaign_insights(
    *, date_from: dt.date, date_to: dt.date, channel: str | None = None, sponsor_id: int | None = None
) -> list[Insight]:
    """Every insight for the period, in a fixed order: channels, movers, anomalies. 4 queries."""
    summary = channel_summary(date_from=date_from, date_to=date_to, channel=channel, sponsor_id=sponsor_id)
    movers = mover_rows(date_to=date_to, channel=channel, sponsor_id=sponsor_id)
    anomalies = anomaly_rows(date_to=date_to, channel=channel, sponsor_id=sponsor_id)
    ids = {row[0] for row in (*movers, *anomalies)}
    names = Campaign.objects.only("id", "name", "channel").in_bulk(ids) if ids else {}
    return [
        *channel_insights(summary),
        *mover_insights(movers, date_to=date_to, names=names),
        *anomaly_insights(anomalies, names=names),
    ]
