"""The campaign metrics sync: read a look-back window from one platform and upsert its rows by
(channel, campaign id, date), in batches (one read per batch, writes only for what changed).

- A re-run with nothing changed upstream writes no metric row.
- A revised number replaces the stored one; a revision beyond CAMPAIGN_REVISION_THRESHOLD
  (relative, default 0.10) of a day already stored is flagged: a MetricRevision row, and the
  message ("conversions for 3 Nov revised +12%") in the run's details.
- A row that cannot be read fails alone (the run is partial); a platform failure fails the run
  and keeps everything written before it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignDay, Channel, MetricRevision
from integrations.connectors.metrics import MetricRow, MetricsPage
from integrations.models import SyncRun
from integrations.services import SyncRunLog

METRIC_FIELDS = ("impressions", "clicks", "conversions", "engagement", "cost", "revenue")
# The numbers whose revisions are flagged (engagement moves too often to be news).
FLAGGED_FIELDS = ("impressions", "clicks", "conversions", "cost", "revenue")
BATCH_SIZE = 2000
MAX_FLAGS_IN_DETAILS = 50


def revision_threshold() -> Decimal:
    return Decimal(str(getattr(settings, "CAMPAIGN_REVISION_THRESHOLD", "0.10")))


def revision_message(*, metric: str, day: dt.date, old: Decimal, new: Decimal) -> tuple[str, Decimal | None]:
    """('conversions for 3 Nov revised +12%', 0.12); the change is None when the old value was 0."""
    label = "spend" if metric == "cost" else metric
    when = f"{day.day} {day:%b}" if day.year == timezone.localdate().year else f"{day.day} {day:%b %Y}"
    if old == 0:
        return f"{label} for {when} revised from 0 to {new.normalize():f}", None
    change = (new - old) / old
    return f"{label} for {when} revised {change * 100:+.0f}%", change.quantize(Decimal("0.0001"))


def _placeholder_name(channel: str, external_id: str) -> str:
    """The name of a new campaign whose rows carry none (until a row brings one)."""
    return f"{Channel(channel).label} campaign {external_id}"[:255]


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MetricsUpserter:
    """Applies the pages of one connector's fetch to the campaigns and their days."""

    def __init__(self, *, log: SyncRunLog, on_page: Callable[[SyncRun], None] | None = None) -> None:
        self.log = log
        self.on_page = on_page
        self.threshold = revision_threshold()
        self.flags: list[str] = []
        self.flag_count = 0
        self._sponsors: list[tuple[str, int]] | None = None

    def apply_pages(self, pages: Iterable[MetricsPage]) -> None:
        for page in pages:
            self.log.add(fetched=len(page.rows) + len(page.errors), pages=1)
            for error in page.errors:
                self.log.error(message=error.message, external_id=error.external_id, detail=error.raw)
            unique: dict[tuple[str, str, dt.date], MetricRow] = {}
            for row in page.rows:
                unique[(row.channel, row.campaign_id, row.date)] = row
            for chunk in _chunks(list(unique.values()), BATCH_SIZE):
                self._apply_batch(chunk)
            self.log.flush()
            if self.on_page is not None:
                self.on_page(self.log.run)

    # --- campaigns --------------------------------------------------------------------------
    def _sponsor_for(self, name: str) -> int | None:
        """A new campaign whose name starts with a sponsor's name belongs to that sponsor."""
        if self._sponsors is None:
            from sponsors.models import Sponsor

            pairs = Sponsor.objects.values_list("name", "pk")
            self._sponsors = sorted(((n.casefold(), pk) for n, pk in pairs), key=lambda p: -len(p[0]))
        folded = name.casefold()
        for sponsor_name, pk in self._sponsors:
            if sponsor_name and folded.startswith(sponsor_name):
                return pk
        return None

    def _campaigns(self, rows: list[MetricRow], now: dt.datetime) -> dict[tuple[str, str], Campaign]:
        """The campaigns of these rows, created when new; name, status and currency follow the
        platform. Returns {(channel, external_id): campaign}."""
        latest: dict[tuple[str, str], MetricRow] = {}
        for row in sorted(rows, key=lambda r: r.date):
            latest[(row.channel, row.campaign_id)] = row
        channels = {channel for channel, _ in latest}
        ids = {external for _, external in latest}
        found = {
            (c.channel, c.external_id): c
            for c in Campaign.objects.filter(channel__in=channels, external_id__in=ids).only(
                "id", "channel", "external_id", "name", "status", "currency"
            )
        }
        missing = [key for key in latest if key not in found]
        if missing:
            Campaign.objects.bulk_create(
                [
                    Campaign(
                        channel=channel,
                        external_id=external,
                        name=latest[(channel, external)].campaign_name or _placeholder_name(channel, external),
                        status=latest[(channel, external)].campaign_status or Campaign.Status.UNKNOWN,
                        currency=latest[(channel, external)].currency or "USD",
                        sponsor_id=self._sponsor_for(latest[(channel, external)].campaign_name),
                        created_at=now,
                        updated_at=now,
                    )
                    for channel, external in missing
                ],
                ignore_conflicts=True,  # another run created it meanwhile: fine, read it back
            )
            found.update(
                {
                    (c.channel, c.external_id): c
                    for c in Campaign.objects.filter(channel__in=channels, external_id__in=ids).only(
                        "id", "channel", "external_id", "name", "status", "currency"
                    )
                    if (c.channel, c.external_id) in set(missing)
                }
            )
        changed = []
        for key, row in latest.items():
            campaign = found[key]
            # A row without a name keeps the stored one (never renamed to a placeholder).
            fields = {"name": row.campaign_name} if row.campaign_name else {}
            if row.campaign_status:
                fields["status"] = row.campaign_status
            if row.currency:
                fields["currency"] = row.currency
            if fields and any(getattr(campaign, f) != v for f, v in fields.items()):
                for f, v in fields.items():
                    setattr(campaign, f, v)
                campaign.updated_at = now
                changed.append(campaign)
        if changed:
            Campaign.objects.bulk_update(changed, ["name", "status", "currency", "updated_at"])
        return found

    # --- days -------------------------------------------------------------------------------
    @transaction.atomic
    def _apply_batch(self, rows: list[MetricRow]) -> None:
        now = timezone.now()
        campaigns = self._campaigns(rows, now)
        by_campaign = {c.pk: c for c in campaigns.values()}
        dates = {row.date for row in rows}
        existing = {
            (d["campaign_id"], d["date"]): d
            for d in CampaignDay.objects.select_for_update()
            .filter(campaign_id__in=list(by_campaign), date__gte=min(dates), date__lte=max(dates))
            .values("campaign_id", "date", *METRIC_FIELDS)
        }
        writes: list[CampaignDay] = []
        revisions: list[MetricRevision] = []
        created = updated = unchanged = 0
        for row in rows:
            campaign = campaigns[(row.channel, row.campaign_id)]
            new = {field: getattr(row, field) for field in METRIC_FIELDS}
            old = existing.get((campaign.pk, row.date))
            if old is None:
                created += 1
            elif all(Decimal(old[f]) == Decimal(new[f]) for f in METRIC_FIELDS):
                unchanged += 1
                continue
            else:
                updated += 1
                revisions += self._revisions(campaign, row, old, new, now)
            writes.append(CampaignDay(campaign_id=campaign.pk, date=row.date, synced_at=now, **new))
        if writes:
            CampaignDay.objects.bulk_create(
                writes,
                update_conflicts=True,
                unique_fields=["campaign", "date"],
                update_fields=[*METRIC_FIELDS, "synced_at"],
                batch_size=1000,
            )
        if revisions:
            MetricRevision.objects.bulk_create(revisions)
        self.log.add(created=created, updated=updated, unchanged=unchanged)

    def _revisions(
        self, campaign: Campaign, row: MetricRow, old: dict[str, Any], new: dict[str, Any], now: dt.datetime
    ) -> list[MetricRevision]:
        found = []
        for field in FLAGGED_FIELDS:
            before, after = Decimal(old[field]), Decimal(new[field])
            if before == after:
                continue
            if before != 0 and abs(after - before) / before <= self.threshold:
                continue
            if before == 0 and after < 1:
                continue  # 0 → 0.5 conversions is not news
            message, change = revision_message(metric=field, day=row.date, old=before, new=after)
            message = f"{campaign.name[:150]}: {message}"
            self.flag_count += 1
            if len(self.flags) < MAX_FLAGS_IN_DETAILS:
                self.flags.append(message)
            found.append(
                MetricRevision(
                    campaign=campaign,
                    date=row.date,
                    metric=field,
                    old_value=before,
                    new_value=after,
                    change=change,
                    message=message[:255],
                    run=self.log.run,
                    created_at=now,
                )
            )
        return found
