from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from campaigns.models import Campaign, CampaignDay

CHANNELS = ("facebook", "instagram", "google_ads", "tiktok")


def make_campaigns(*, count: int = 8, days: int = 40, start: dt.date = dt.date(2030, 1, 1), seed: int = 7):
    """Campaigns with random daily rows (some with no spend at all). Returns (campaigns, raw rows)."""
    rng = random.Random(seed)
    campaigns = [
        Campaign.objects.create(channel=CHANNELS[i % 4], external_id=f"ext-{i}", name=f"Campaign {i:02d}")
        for i in range(count)
    ]
    rows = []
    for index, campaign in enumerate(campaigns):
        for n in range(days):
            if rng.random() < 0.1:
                continue  # a day the platform did not report
            free = index == count - 1  # the last campaign never spends: ROI n/a
            impressions = rng.randint(0, 5000)
            clicks = rng.randint(0, impressions // 10 + 1) if impressions else 0
            row = CampaignDay(
                campaign=campaign,
                date=start + dt.timedelta(days=n),
                impressions=impressions,
                clicks=clicks,
                conversions=Decimal(rng.randint(0, 300)) / 10,
                engagement=rng.randint(0, 100),
                cost=Decimal(0) if free else Decimal(rng.randint(0, 9_999_999)) / 10_000,
                revenue=Decimal(rng.randint(0, 2_000_000)) / 100,
            )
            rows.append(row)
    CampaignDay.objects.bulk_create(rows)
    return campaigns, rows
