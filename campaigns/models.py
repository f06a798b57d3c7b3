"""Campaigns, their daily numbers, revisions of those numbers, and alert rules with their state.

Rates (CTR, conversion rate, CPC, ROI) are never stored: they are derived in the queries of
campaigns/selectors.py from the summed counts and money.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Channel(models.TextChoices):
    FACEBOOK = "facebook", "Facebook"
    INSTAGRAM = "instagram", "Instagram"
    GOOGLE_ADS = "google_ads", "Google Ads"
    TIKTOK = "tiktok", "TikTok"


# Money is stored exactly, to a millionth (Google Ads reports micros).
MONEY = {"max_digits": 20, "decimal_places": 6}


class Campaign(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        REMOVED = "removed", "Removed"
        UNKNOWN = "unknown", "Unknown"

    channel = models.CharField(max_length=20, choices=Channel.choices)
    external_id = models.CharField("campaign id on the platform", max_length=255)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNKNOWN)
    sponsor = models.ForeignKey(
        "sponsors.Sponsor", null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["channel", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="campaign_channel_external_uniq"),
        ]
        indexes = [models.Index(fields=["sponsor", "channel"], name="campaign_sponsor_channel_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_channel_display()})"


class CampaignDay(models.Model):
    """One campaign's numbers for one day, as the platform last reported them."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="days")
    date = models.DateField()
    impressions = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])
    clicks = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])
    conversions = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    engagement = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])
    cost = models.DecimalField(**MONEY, default=0)
    revenue = models.DecimalField(**MONEY, default=0)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["campaign_id", "date"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "date"], name="campaignday_campaign_date_uniq"),
        ]
        # Date-range aggregates over every campaign start from this index.
        indexes = [models.Index(fields=["date", "campaign"], name="campaignday_date_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.date}"


class MetricRevision(models.Model):
    """A platform revised a past day's number by more than CAMPAIGN_REVISION_THRESHOLD."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="revisions")
    date = models.DateField()
    metric = models.CharField(max_length=20)
    old_value = models.DecimalField(**MONEY)
    new_value = models.DecimalField(**MONEY)
    change = models.DecimalField(max_digits=12, decimal_places=4, null=True, help_text="Relative change (0.12 = +12%).")
    message = models.CharField(max_length=255)
    run = models.ForeignKey("integrations.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["campaign", "-created_at"], name="metricrevision_campaign_idx")]

    def __str__(self) -> str:
        return self.message


class AlertRule(models.Model):
    """A condition on a campaign metric over the last `window_days` days, checked after each sync."""

    class Metric(models.TextChoices):
        ROI = "roi", "ROI"
        CPC = "cpc", "CPC"
        CTR = "ctr", "CTR"
        CONVERSION_RATE = "conversion_rate", "Conversion rate"
        COST = "cost", "Spend"
        REVENUE = "revenue", "Revenue"
        CONVERSIONS = "conversions", "Conversions"
        CLICKS = "clicks", "Clicks"
        IMPRESSIONS = "impressions", "Impressions"

    class Comparison(models.TextChoices):
        LT = "lt", "below"
        LTE = "lte", "at or below"
        GT = "gt", "above"
        GTE = "gte", "at or above"

    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="campaign_alert_rules",
        help_text="Who is notified (and, with create_task, assigned the task).",
    )
    metric = models.CharField(max_length=20, choices=Metric.choices)
    comparison = models.CharField(max_length=3, choices=Comparison.choices)
    threshold = models.DecimalField(max_digits=20, decimal_places=6)
    window_days = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1), MaxValueValidator(90)])
    channel = models.CharField(max_length=20, choices=Channel.choices, blank=True, help_text="Empty: every channel.")
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules", help_text="Empty: all."
    )
    sponsor = models.ForeignKey(
        "sponsors.Sponsor", null=True, blank=True, on_delete=models.CASCADE, related_name="campaign_alert_rules"
    )
    create_task = models.BooleanField(default=False, help_text="Also create a task when the rule fires.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_days__gte=1) & Q(window_days__lte=90), name="alertrule_window_days_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def describe(self) -> str:
        return (
            f"{self.get_metric_display()} {self.get_comparison_display()} {self.threshold.normalize():f} "
            f"over {self.window_days} day{'s' if self.window_days != 1 else ''}"
        )


class AlertState(models.Model):
    """Whether a rule is firing for a campaign: it fires once, then not again until it recovers."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="states")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="alert_states")
    firing = models.BooleanField(default=False)
    times_fired = models.PositiveIntegerField(default=0)
    last_value = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    fired_at = models.DateTimeField(null=True, blank=True)
    recovered_at = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rule_id", "campaign_id"]
        constraints = [models.UniqueConstraint(fields=["rule", "campaign"], name="alertstate_rule_campaign_uniq")]

    def __str__(self) -> str:
        return f"{self.rule} / {self.campaign_id}: {'firing' if self.firing else 'ok'}"
