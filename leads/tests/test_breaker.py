"""The lead sheet's scheduled sync behind its circuit breaker (simulated clock, fake Sheets API
answering 500 in Google's error shape: developers.google.com/sheets/api/limits and the API's
standard `{"error": {"code", "message", "status"}}` body)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from conftest import SimClock
from integrations.models import ConnectorState, SyncRun
from leads.jobs import lead_sync_scheduled

pytestmark = pytest.mark.django_db

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def failing_sheet(sheet: Any, settings: Any) -> Any:
    settings.SYNC_MAX_ATTEMPTS = 1
    settings.SYNC_BACKOFF_BASE = 0
    settings.SYNC_BREAKER_THRESHOLD = 2
    sheet.fail("GET", "/v4/", 500, times=100)
    return sheet


def test_the_scheduled_sync_pauses_and_a_manual_one_still_tries(failing_sheet: Any, clock: SimClock) -> None:
    start = clock.current
    outcomes = []
    for minute in range(5):
        clock.current = start + minute * MINUTE
        outcomes.append(lead_sync_scheduled(now=clock.current))

    # Failures at 0 and 1 open it; probes at 2 (after 1 minute) and 4 (after 2 more).
    assert [o.startswith("skipped: paused") for o in outcomes] == [False, False, False, True, False]
    assert SyncRun.objects.filter(connector="google_sheets").count() == 4  # the skip left no run
    assert failing_sheet.count("/v4/", "GET") == 4
    state = ConnectorState.objects.get(connector="google_sheets")
    assert state.consecutive_failures == 4 and state.breaker_open_until == start + 4 * MINUTE + 4 * MINUTE

    with pytest.raises(CommandError, match="failed"):
        call_command("sync_leads")
    assert failing_sheet.count("/v4/", "GET") == 5
