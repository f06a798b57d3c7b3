"""The look-back re-reads days already stored; a fault must never replace them. Each platform's
whole-answer faults (404, 500, no answer in time, malformed JSON, a list, a string, null) fail the
run and leave every stored number, campaign and the last success as they were; a row that comes
without its numbers or its name fails alone or keeps the stored name. Fakes: campaigns/tests/fakes.py."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from campaigns.models import Campaign, CampaignDay
from campaigns.services import campaign_metrics_sync
from campaigns.tests.fakes import (
    GOOGLE_PATH,
    META_PATH,
    TIKTOK_PATH,
    Day,
    Fake,
    serve_google,
    serve_meta,
    serve_tiktok,
    tiktok_row,
)
from integrations.connectors.metrics import get_metrics_connector
from integrations.http import RetryPolicy
from integrations.models import ConnectorState
from integrations.tests.faults import FAULTS, Hang, serve_fault

pytestmark = pytest.mark.django_db
TODAY = dt.date(2030, 11, 5)
FAST = RetryPolicy(max_attempts=2, base_delay=1.0, max_delay=1.0)
PLATFORMS = {
    "meta_ads": ("live_meta", serve_meta, META_PATH, "GET"),
    "google_ads": ("live_google_ads", serve_google, GOOGLE_PATH, "POST"),
    "tiktok_ads": ("live_tiktok", serve_tiktok, TIKTOK_PATH, "GET"),
}


def sync(key: str, *, timeout: float = 30.0) -> Any:
    """A sync; the fault syncs pass a short `timeout` so that a held answer times out."""
    connector = get_metrics_connector(key, sleep=lambda s: None, policy=FAST, timeout=timeout)
    return campaign_metrics_sync(connector_key=key, trigger="manual", today=TODAY, days=7, connector=connector)


def stored() -> list[tuple[Any, ...]]:
    days = CampaignDay.objects.order_by("campaign__external_id", "date")
    return list(days.values_list("campaign__external_id", "date", "impressions", "clicks", "cost", "revenue"))


def campaigns() -> list[tuple[Any, ...]]:
    return list(Campaign.objects.order_by("external_id").values_list("external_id", "name", "status", "currency"))


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("key", PLATFORMS)
def test_a_fault_fails_the_run_and_keeps_every_stored_day(request: Any, key: str, fault: str, hang: Hang) -> None:
    fixture, serve, path, method = PLATFORMS[key]
    server: HTTPServer = request.getfixturevalue(fixture)
    serve(server, Fake([Day("7100", f"2030-11-0{n}", name="Spark") for n in (3, 4)], page_size=10))
    first = sync(key)
    assert (first.status, first.created) == ("succeeded", 2)
    days_before, campaigns_before = stored(), campaigns()

    server.clear()
    serve_fault(server, path, fault, hang=hang, method=method)
    run = sync(key, timeout=0.5)

    assert run.status == "failed" and run.error, (fault, run.error)
    assert (run.created, run.updated) == (0, 0)
    assert stored() == days_before, "the numbers of the look-back stay what the last good read said"
    assert campaigns() == campaigns_before
    state = ConnectorState.objects.get(connector=key)
    assert state.last_success_at == first.finished_at and state.last_error == run.error


def test_a_row_without_its_numbers_fails_alone_and_keeps_the_stored_day(live_tiktok: HTTPServer) -> None:
    fake = serve_tiktok(live_tiktok, Fake([Day("7100", "2030-11-03", name="Spark", impressions=1234)], page_size=10))
    sync("tiktok_ads")
    before = stored()

    live_tiktok.clear()
    row = tiktok_row(fake.days[0])
    row["metrics"] = {"campaign_name": "Spark"}  # the numbers are missing, not zero
    body = {"code": 0, "message": "OK", "request_id": "t1", "data": {"list": [row], "page_info": {"total_page": 1}}}
    live_tiktok.expect_request(TIKTOK_PATH).respond_with_data(json.dumps(body), content_type="application/json")
    run = sync("tiktok_ads")

    assert (run.status, run.failed, run.updated) == ("partial", 1, 0)
    assert stored() == before and before[0][2] == 1234


@pytest.mark.parametrize("key", PLATFORMS)
def test_a_row_without_a_name_keeps_the_campaigns_name(request: Any, key: str) -> None:
    fixture, serve, _, _ = PLATFORMS[key]
    server: HTTPServer = request.getfixturevalue(fixture)
    fake = serve(server, Fake([Day("7100", "2030-11-03", name="Spark", impressions=10)], page_size=10))
    sync(key)
    assert Campaign.objects.get().name == "Spark"

    fake.days = [Day("7100", "2030-11-03", name="", impressions=20), Day("7200", "2030-11-03", name="")]
    run = sync(key)

    assert run.status == "succeeded", run.error
    names = dict(Campaign.objects.values_list("external_id", "name"))
    assert names["7100"] == "Spark", "a blank name does not rename the campaign"
    assert names["7200"].endswith("campaign 7200"), "a new campaign gets a placeholder until a row names it"
    assert CampaignDay.objects.get(campaign__external_id="7100").impressions == 20
