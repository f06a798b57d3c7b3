"""The campaign metrics schedule keeps a breaker per ad platform: TikTok failing pauses TikTok
only (fake TikTok Business API on 127.0.0.1 answering 500; report endpoint as documented at
business-api.tiktok.com/portal/docs, "Create a synchronous report")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from campaigns.jobs import campaign_sync_all
from campaigns.tests.fakes import TIKTOK_PATH
from conftest import SimClock
from integrations.models import ConnectorState, SyncRun

pytestmark = pytest.mark.django_db


def test_a_failing_ad_platform_is_paused_while_the_others_still_sync(
    live_tiktok: Any, settings: Any, clock: SimClock, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SYNC_JOBS_INLINE = True
    settings.SYNC_MAX_ATTEMPTS = 1
    settings.SYNC_BACKOFF_BASE = 0
    settings.SYNC_BREAKER_THRESHOLD = 2
    live_tiktok.expect_request(TIKTOK_PATH, method="GET").respond_with_json(
        {"code": 50000, "message": "Internal error"}, status=500
    )
    start = clock.current
    queued = []
    for at in (start, start + dt.timedelta(minutes=1), start + dt.timedelta(minutes=1, seconds=30)):
        clock.current = at
        with django_capture_on_commit_callbacks(execute=True):
            queued.append(campaign_sync_all(now=at))

    assert queued == [3, 3, 2]
    tiktok_calls = sum(1 for request, _ in live_tiktok.log if request.path == TIKTOK_PATH)
    assert tiktok_calls == 2
    assert SyncRun.objects.filter(connector="tiktok_ads").count() == 2
    assert SyncRun.objects.filter(connector="meta_ads", status="succeeded").count() == 3
    assert ConnectorState.objects.get(connector="tiktok_ads").is_paused
