"""Plausible, deterministic ad numbers for the demo simulators of the metrics connectors.

A campaign's numbers for a day depend only on (channel, campaign id, day): the simulators answer
the same thing every time they are asked, so an hourly re-read of the look-back window changes
nothing and the demo history is the same on every install. Each campaign has its own scale,
click-through rate, cost per click, conversion rate and order value, a weekly rhythm, a slow
trend, day-to-day noise and, for a few campaigns, one unusual day (for the insights to find).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class DemoCampaign:
    campaign_id: str
    name: str
    status: str  # the platform's own word (ENABLED, ACTIVE, …)


# Meta campaigns run on Facebook, Instagram or both (publisher_platform splits them).
META_CAMPAIGNS: tuple[tuple[DemoCampaign, tuple[str, ...]], ...] = (
    (DemoCampaign("120210000000000101", "Northwind Outfitters · Spring Sale", "ACTIVE"), ("facebook", "instagram")),
    (DemoCampaign("120210000000000102", "Blue Harbor Coffee · Retargeting", "ACTIVE"), ("facebook", "instagram")),
    (DemoCampaign("120210000000000103", "Lumen Energy · Webinar Signups", "ACTIVE"), ("facebook",)),
    (DemoCampaign("120210000000000104", "Orchard Health · Brand Awareness", "ACTIVE"), ("facebook", "instagram")),
    (DemoCampaign("120210000000000105", "Summit Bikes · Reels Launch", "ACTIVE"), ("instagram",)),
    (
        DemoCampaign("120210000000000106", "Northwind Outfitters · Lookalike Prospecting", "PAUSED"),
        ("facebook", "instagram"),
    ),
)
GOOGLE_CAMPAIGNS: tuple[DemoCampaign, ...] = (
    DemoCampaign("20481001", "Northwind Outfitters · Search Brand", "ENABLED"),
    DemoCampaign("20481002", "Summit Bikes · Search Generic", "ENABLED"),
    DemoCampaign("20481003", "Lumen Energy · Performance Max", "ENABLED"),
    DemoCampaign("20481004", "Blue Harbor Coffee · Display Remarketing", "ENABLED"),
    DemoCampaign("20481005", "Orchard Health · YouTube Pre-roll", "PAUSED"),
)
TIKTOK_CAMPAIGNS: tuple[DemoCampaign, ...] = (
    DemoCampaign("1780000000000001", "Summit Bikes · Creator Collab", "CAMPAIGN_STATUS_ENABLE"),
    DemoCampaign("1780000000000002", "Blue Harbor Coffee · Spark Ads", "CAMPAIGN_STATUS_ENABLE"),
    DemoCampaign("1780000000000003", "Orchard Health · Hashtag Challenge", "CAMPAIGN_STATUS_ENABLE"),
    DemoCampaign("1780000000000004", "Lumen Energy · App Installs", "CAMPAIGN_STATUS_DISABLE"),
)
CENT = Decimal("0.01")


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:8], "big")


@dataclass(frozen=True)
class DayNumbers:
    impressions: int
    clicks: int
    conversions: int
    engagement: int
    cost: Decimal
    revenue: Decimal


def demo_numbers(channel: str, campaign_id: str, day: dt.date) -> DayNumbers:
    """The simulated numbers of one campaign on one channel and day (deterministic)."""
    profile = random.Random(_seed("profile", channel, campaign_id))
    scale = profile.uniform(2_000, 40_000)
    ctr = profile.uniform(0.004, 0.035)
    cpc = profile.uniform(0.25, 2.8)
    cvr = profile.uniform(0.01, 0.09)
    order_value = profile.uniform(15, 140)
    trend = profile.uniform(-0.004, 0.006)
    weekend = profile.uniform(0.7, 1.3)
    odd_day = profile.randrange(0, 90) if profile.random() < 0.4 else -1

    rng = random.Random(_seed("day", channel, campaign_id, day.isoformat()))
    age = (day - dt.date(2020, 1, 1)).days
    level = scale * (1 + trend * (age % 365 - 180) / 10) * (weekend if day.weekday() >= 5 else 1.0)
    level *= 1 + 0.15 * math.sin(age / 9.0)
    impressions = max(0, int(level * rng.uniform(0.8, 1.2)))
    if odd_day >= 0 and age % 90 == odd_day:
        impressions *= 4  # a day far outside the campaign's usual range
    clicks = int(impressions * ctr * rng.uniform(0.85, 1.15))
    conversions = int(clicks * cvr * rng.uniform(0.6, 1.4))
    cost = (Decimal(clicks) * Decimal(str(round(cpc * rng.uniform(0.9, 1.1), 4)))).quantize(CENT, ROUND_HALF_UP)
    revenue = (Decimal(conversions) * Decimal(str(round(order_value * rng.uniform(0.8, 1.2), 2)))).quantize(
        CENT, ROUND_HALF_UP
    )
    engagement = int(clicks * rng.uniform(0.5, 2.5))
    return DayNumbers(impressions, clicks, conversions, engagement, cost, revenue)


def days_between(since: dt.date, until: dt.date) -> list[dt.date]:
    return [since + dt.timedelta(days=n) for n in range((until - since).days + 1)]
