"""The upsert rules: a re-run never duplicates nor writes, a revision replaces the old number,
and one beyond the threshold is flagged; two runs of one connector never overlap."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from campaigns.demo import seed_campaigns_demo
from campaigns.models import Campaign, CampaignDay, MetricRevision
from campaigns.services import campaign_metrics_sync
from campaigns.sync import revision_message
from campaigns.tests.fakes import Day, Fake, serve_meta, serve_tiktok
from integrations.connectors.metrics import get_metrics_connector
from integrations.models import SyncRun

pytestmark = pytest.mark.django_db
TODAY = dt.date(2030, 11, 5)


def sync(key: str, sleeps):
    connector = get_metrics_connector(key, sleep=sleeps)
    return campaign_metrics_sync(connector_key=key, trigger="manual", today=TODAY, days=7, connector=connector)


def test_rerun_never_duplicates_and_writes_nothing(live_tiktok, sleeps):
    days = [Day("7100", f"2030-11-0{n}", name="Spark") for n in range(1, 6)]
    serve_tiktok(live_tiktok, Fake(days, page_size=10))
    first = sync("tiktok_ads", sleeps)
    stamps = dict(CampaignDay.objects.values_list("date", "synced_at"))

    second = sync("tiktok_ads", sleeps)

    assert (first.created, first.updated) == (5, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 5)
    assert CampaignDay.objects.count() == 5 and Campaign.objects.count() == 1
    assert dict(CampaignDay.objects.values_list("date", "synced_at")) == stamps  # no row rewritten


def test_revised_numbers_replace_old_ones_and_big_ones_are_flagged(live_tiktok, sleeps):
    days = [Day("7100", f"2030-11-0{n}", name="Spark", conversions=25, cost="100.00") for n in range(1, 6)]
    fake = serve_tiktok(live_tiktok, Fake(days, page_size=10))
    sync("tiktok_ads", sleeps)
    fake.days[2].conversions = 28  # 3 Nov: +12 %
    fake.days[3].cost = "104.00"  # 4 Nov: +4 %, below the 10 % threshold

    run = sync("tiktok_ads", sleeps)

    assert (run.created, run.updated, run.unchanged) == (0, 2, 3)
    assert CampaignDay.objects.get(date="2030-11-03").conversions == Decimal(28)
    assert CampaignDay.objects.get(date="2030-11-04").cost == Decimal("104")
    revision = MetricRevision.objects.get()
    assert revision.metric == "conversions" and revision.date == dt.date(2030, 11, 3)
    assert (revision.old_value, revision.new_value, revision.change) == (Decimal(25), Decimal(28), Decimal("0.12"))
    assert revision.message == "Spark: conversions for 3 Nov 2030 revised +12%"
    assert run.details["revisions"] == [revision.message]
    assert run.details["revisions_flagged"] == 1
    assert CampaignDay.objects.count() == 5


def test_threshold_is_a_setting(live_tiktok, sleeps, settings):
    settings.CAMPAIGN_REVISION_THRESHOLD = "0.02"
    fake = serve_tiktok(live_tiktok, Fake([Day("7100", "2030-11-04", cost="100.00")], page_size=10))
    sync("tiktok_ads", sleeps)
    fake.days[0].cost = "104.00"
    sync("tiktok_ads", sleeps)
    assert MetricRevision.objects.get().message.endswith("spend for 4 Nov 2030 revised +4%")


def test_revision_message_wording():
    day = dt.date(2030, 11, 3)
    assert revision_message(metric="conversions", day=day, old=Decimal(100), new=Decimal(88))[0] == (
        "conversions for 3 Nov 2030 revised -12%"
    )
    assert revision_message(metric="cost", day=day, old=Decimal(0), new=Decimal(5))[1] is None


def test_two_runs_of_one_connector_never_overlap(live_meta, sleeps):
    from django.db import connection
    from django.utils import timezone

    from integrations.services import _lock_key

    fake = serve_meta(live_meta, Fake([Day("1", "2030-11-01")]))
    running = SyncRun.objects.create(
        connector="meta_ads", scope="campaigns", status="running", heartbeat_at=timezone.now()
    )
    holder = None
    if connection.vendor == "postgresql":  # the live run's worker holds the advisory lock
        import psycopg

        params = connection.get_connection_params()
        holder = psycopg.connect(
            dbname=params["dbname"], user=params.get("user"), host=params.get("host"), port=params.get("port"),
            autocommit=True,
        )  # fmt: skip
        holder.execute("SELECT pg_advisory_lock(%s, %s)", list(_lock_key("meta_ads", "campaigns")))
    try:
        run = sync("meta_ads", sleeps)
    finally:
        if holder is not None:
            holder.close()

    assert run.pk == running.pk and run.skip_reason == "already running"
    assert fake.requests == [] and CampaignDay.objects.count() == 0


def test_seed_demo_is_idempotent_and_deterministic(no_ad_credentials):
    seed_campaigns_demo(days=20)
    first = list(
        CampaignDay.objects.order_by("campaign__channel", "campaign__external_id", "date").values_list(
            "campaign__external_id", "date", "cost", "revenue", "clicks"
        )
    )
    result = seed_campaigns_demo(days=20)
    assert result == {"meta_ads": "succeeded", "google_ads": "succeeded", "tiktok_ads": "succeeded"}
    again = list(
        CampaignDay.objects.order_by("campaign__channel", "campaign__external_id", "date").values_list(
            "campaign__external_id", "date", "cost", "revenue", "clicks"
        )
    )
    assert again == first and len(first) == 19 * 20
    assert SyncRun.objects.filter(connector="meta_ads").order_by("-pk").first().unchanged == 10 * 20


def test_demo_campaigns_are_linked_to_sponsors_by_name(no_ad_credentials):
    from sponsors.models import Sponsor

    summit = Sponsor.objects.create(name="Summit Bikes")
    seed_campaigns_demo(days=2)
    linked = set(Campaign.objects.filter(sponsor=summit).values_list("name", flat=True))
    assert linked and all(name.startswith("Summit Bikes") for name in linked)


def test_command_syncs_one_channel(no_ad_credentials, capsys):
    call_command("sync_campaigns", "--channel", "tiktok", "--days", "3")
    out = capsys.readouterr().out
    assert "TikTok Ads (demo, 3 days): succeeded" in out
    assert set(Campaign.objects.values_list("channel", flat=True)) == {"tiktok"}
    assert CampaignDay.objects.count() == 4 * 3
    assert "Alerts: 0 fired" in out


def test_command_rejects_bad_days(no_ad_credentials):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("sync_campaigns", "--days", "0")
