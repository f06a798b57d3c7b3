"""Each metrics connector's real client code against a local fake of its platform: paging,
numbers as the platform writes them, throttling replies, auth failures and bad rows."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from campaigns.models import Campaign, CampaignDay
from campaigns.services import campaign_metrics_sync
from campaigns.tests.fakes import (
    GOOGLE_CUSTOMER,
    TIKTOK_ADVERTISER,
    Day,
    Fake,
    serve_google,
    serve_meta,
    serve_tiktok,
)
from integrations.connectors.base import AuthError, RateLimitError
from integrations.connectors.metrics import get_metrics_connector
from integrations.models import ConnectorState, SyncRun

pytestmark = pytest.mark.django_db
TODAY = dt.date(2030, 11, 5)


def sync(key: str, sleeps, **kwargs):
    connector = get_metrics_connector(key, sleep=sleeps)
    return campaign_metrics_sync(
        connector_key=key, trigger="manual", today=TODAY, days=7, connector=connector, **kwargs
    )


def five_days(campaign_id: str, **kwargs) -> list[Day]:
    return [Day(campaign_id, f"2030-11-0{n}", **kwargs) for n in range(1, 6)]


# --- Meta ---------------------------------------------------------------------------------------
def test_meta_pages_through_cursors_and_splits_by_platform(live_meta, sleeps):
    days = five_days("111", name="Spring", platform="facebook") + five_days("111", name="Spring", platform="instagram")
    days.append(Day("111", "2030-11-01", platform="audience_network"))
    fake = serve_meta(live_meta, Fake(days, page_size=4))

    run = sync("meta_ads", sleeps)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert len(fake.requests) == 3  # 11 rows in pages of 4
    first = fake.requests[0].args
    assert first["level"] == "campaign" and first["time_increment"] == "1"
    assert first["breakdowns"] == "publisher_platform"
    assert json.loads(first["time_range"]) == {"since": "2030-10-30", "until": "2030-11-05"}
    assert first["access_token"] == "meta-token"
    assert [r.args.get("after") for r in fake.requests] == [None, "c4", "c8"]
    assert sorted(Campaign.objects.values_list("channel", "external_id", "currency")) == [
        ("facebook", "111", "EUR"),
        ("instagram", "111", "EUR"),
    ]
    assert CampaignDay.objects.count() == 10
    day = CampaignDay.objects.get(campaign__channel="instagram", date="2030-11-02")
    assert (day.impressions, day.clicks, day.conversions, day.cost, day.revenue, day.engagement) == (
        1000,
        50,
        Decimal("5"),
        Decimal("25"),
        Decimal("100"),
        20,
    )
    assert run.details["other_placement_rows_skipped"] == 1
    assert (run.fetched, run.created, run.pages) == (10, 10, 3)


@pytest.mark.parametrize("code", [4, 17, 613, 80000, 80004])
def test_meta_throttling_codes_back_off_and_retry(live_meta, sleeps, code):
    fake = serve_meta(live_meta, Fake(five_days("111"), page_size=10, throttle=[code, code]))

    run = sync("meta_ads", sleeps)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert len(fake.requests) == 3
    assert len(sleeps.calls) == 2
    assert CampaignDay.objects.count() == 5


def test_meta_throttling_that_never_ends_fails_the_run(live_meta, sleeps, settings):
    settings.SYNC_MAX_ATTEMPTS = 3
    serve_meta(live_meta, Fake(five_days("111"), throttle=[17] * 10))

    run = sync("meta_ads", sleeps)

    assert run.status == SyncRun.Status.FAILED
    assert "code 17" in run.error and "gave up after 3 attempts" in run.error
    state = ConnectorState.objects.get(connector="meta_ads")
    assert state.is_failing


def test_meta_expired_token_is_an_auth_failure(live_meta, sleeps):
    error = {"message": "Error validating access token", "type": "OAuthException", "code": 190}
    fake = serve_meta(live_meta, Fake(five_days("111"), throttle=[error]))

    run = sync("meta_ads", sleeps)

    assert run.status == SyncRun.Status.FAILED
    assert "new credentials" in run.error
    assert len(fake.requests) == 1  # not retried
    assert ConnectorState.objects.get(connector="meta_ads").needs_reauth


def test_meta_classifies_rate_limit_with_regain_time(live_meta):
    import httpx

    connector = get_metrics_connector("meta_ads")
    headers = {
        "X-Business-Use-Case-Usage": json.dumps({"1": [{"type": "ads_insights", "estimated_time_to_regain_access": 2}]})
    }
    response = httpx.Response(400, json={"error": {"code": 80000, "message": "slow"}}, headers=headers)
    error = connector.classify(response)
    assert isinstance(error, RateLimitError) and error.retry_after == 120
    assert isinstance(connector.classify(httpx.Response(400, json={"error": {"code": 190}})), AuthError)


def test_a_bad_meta_row_fails_alone(live_meta, sleeps):
    days = five_days("111")
    days[2].cost = "not-money"
    serve_meta(live_meta, Fake(days, page_size=10))

    run = sync("meta_ads", sleeps)

    assert run.status == SyncRun.Status.PARTIAL
    assert (run.created, run.failed) == (4, 1)
    assert run.record_errors.get().external_id == "111"


# --- Google Ads ---------------------------------------------------------------------------------
def test_google_ads_search_stream(live_google_ads, sleeps):
    days = five_days("9001", name="Search", cost="12.345678") + five_days("9002", name="Display")
    fake = serve_google(live_google_ads, Fake(days, page_size=3))

    run = sync("google_ads", sleeps)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.pages == 4  # 10 rows streamed in batches of 3
    request = fake.requests[0]
    assert request.headers["developer-token"] == "dev-token"
    assert request.headers["Authorization"] == "Bearer g-token"
    assert request.headers["login-customer-id"] == "9998887777"
    query = request.get_json()["query"]
    assert "FROM campaign" in query and "segments.date BETWEEN '2030-10-30' AND '2030-11-05'" in query
    assert "metrics.cost_micros" in query
    assert request.path.endswith(f"/customers/{GOOGLE_CUSTOMER}/googleAds:searchStream")
    day = CampaignDay.objects.get(campaign__external_id="9001", date="2030-11-03")
    assert day.cost == Decimal("12.345678")  # from costMicros, exact
    assert Campaign.objects.get(external_id="9001").status == "active"
    assert Campaign.objects.get(external_id="9001").currency == "GBP"


def test_google_ads_resource_exhausted_waits_the_retry_delay(live_google_ads, sleeps):
    fake = serve_google(live_google_ads, Fake(five_days("9001"), page_size=10, throttle=[1]))

    run = sync("google_ads", sleeps)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert len(fake.requests) == 2
    assert len(sleeps.calls) == 1 and 7 <= sleeps.calls[0] < 8  # retryDelay "7s" plus jitter
    assert CampaignDay.objects.count() == 5


# --- TikTok -------------------------------------------------------------------------------------
def test_tiktok_pages_with_page_info(live_tiktok, sleeps):
    fake = serve_tiktok(live_tiktok, Fake(five_days("7100") + five_days("7200"), page_size=4))

    run = sync("tiktok_ads", sleeps)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert [r.args["page"] for r in fake.requests] == ["1", "2", "3"]
    first = fake.requests[0]
    assert first.headers["Access-Token"] == "tt-token"
    assert first.args["advertiser_id"] == TIKTOK_ADVERTISER
    assert first.args["report_type"] == "BASIC"
    assert json.loads(first.args["dimensions"]) == ["campaign_id", "stat_time_day"]
    assert (first.args["start_date"], first.args["end_date"]) == ("2030-10-30", "2030-11-05")
    assert CampaignDay.objects.filter(campaign__channel="tiktok").count() == 10


def test_tiktok_code_40100_slows_down_and_retries(live_tiktok, sleeps):
    fake = serve_tiktok(live_tiktok, Fake(five_days("7100"), page_size=10, throttle=[40100]))

    run = sync("tiktok_ads", sleeps)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert len(fake.requests) == 2 and len(sleeps.calls) == 1
    assert CampaignDay.objects.count() == 5


def test_tiktok_other_codes_fail_without_retry(live_tiktok, sleeps):
    fake = serve_tiktok(live_tiktok, Fake(five_days("7100"), throttle=[40105]))

    run = sync("tiktok_ads", sleeps)

    assert run.status == SyncRun.Status.FAILED and "40105" in run.error
    assert len(fake.requests) == 1


# --- demo mode ----------------------------------------------------------------------------------
def test_without_credentials_the_simulators_answer(no_ad_credentials, sleeps):
    for key in ("meta_ads", "google_ads", "tiktok_ads"):
        run = sync(key, sleeps)
        assert run.status == SyncRun.Status.SUCCEEDED, run.error
        assert run.details["demo"] is True
    assert Campaign.objects.count() == 19
    assert set(Campaign.objects.values_list("channel", flat=True)) == {"facebook", "instagram", "google_ads", "tiktok"}
    assert CampaignDay.objects.count() == 19 * 7
