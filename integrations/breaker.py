"""The circuit breaker of the scheduled syncs, one per (connector, scope) on its ConnectorState.

A platform that fails every minute should not be called every minute (five attempts each
time). After SYNC_BREAKER_THRESHOLD failed runs in a row (5) the breaker opens: scheduled runs
of that scope wait 1 minute, then one probe run goes through; each probe that fails doubles
the wait (2, 4, … up to SYNC_BREAKER_MAX_MINUTES, 60). A run that succeeds (or is partial: the
platform answered) closes it and resets the count. Manual runs (dashboard, API, command) never
ask the breaker, so a person can always try; their outcome counts like any other run's.

Skipped scheduled runs leave no SyncRun row (a paused scope would otherwise add one a minute to
the history); the paused state is on the ConnectorState, shown by the sync centre and the API.
Staff are told once per opening, through `integrations.signals.sync_breaker_opened`. This
module is the policy; the writes go through integrations/services.py (`breaker_allows`,
`connector_state_after_run`), the one writer of ConnectorState.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.models import ConnectorState, SyncRun
from integrations.signals import sync_breaker_opened


def breaker_threshold() -> int:
    """Failed runs in a row that open the breaker (at least 1)."""
    return max(1, int(getattr(settings, "SYNC_BREAKER_THRESHOLD", 5)))


def breaker_max_wait() -> dt.timedelta:
    return dt.timedelta(minutes=max(1, int(getattr(settings, "SYNC_BREAKER_MAX_MINUTES", 60))))


def breaker_wait(failures: int) -> dt.timedelta:
    """How long the schedule waits after `failures` failed runs in a row: nothing below the
    threshold, then 1, 2, 4 … minutes, capped at SYNC_BREAKER_MAX_MINUTES."""
    over = failures - breaker_threshold()
    if over < 0:
        return dt.timedelta(0)
    return min(dt.timedelta(minutes=2 ** min(over, 30)), breaker_max_wait())


def breaker_record_run(*, state: ConnectorState, run: SyncRun) -> bool:
    """Count a finished run on `state` (locked by the caller; not saved here). A failure adds
    one and, from the threshold on, sets when the schedule may try again; anything else closes
    the breaker. Returns True when this run opened it (the caller tells staff, once)."""
    if run.status != SyncRun.Status.FAILED:
        state.consecutive_failures = 0
        state.breaker_open_until = state.breaker_opened_at = None
        return False
    state.consecutive_failures += 1
    if state.consecutive_failures < breaker_threshold():
        # Closed (or left open under a lower threshold that has since been raised).
        state.breaker_open_until = state.breaker_opened_at = None
        return False
    ended = run.finished_at or timezone.now()
    retry_at = ended + breaker_wait(state.consecutive_failures)
    # A probe let through already moved the next try on (breaker_allows); keep the later one.
    if state.breaker_open_until is None or retry_at > state.breaker_open_until:
        state.breaker_open_until = retry_at
    if state.breaker_opened_at is None:
        state.breaker_opened_at = ended
        return True
    return False


def breaker_announce(*, state: ConnectorState) -> None:
    """Send `sync_breaker_opened` after commit (listeners tell staff; deduplicated by opening)."""
    key = f"sync-breaker:{state.connector}:{state.scope}:{state.breaker_opened_at:%Y%m%d%H%M%S%f}"
    connector, scope = state.connector, state.scope
    failures, until, error = state.consecutive_failures, state.breaker_open_until, state.last_error
    transaction.on_commit(
        lambda: sync_breaker_opened.send(
            sender=ConnectorState,
            connector=connector,
            scope=scope,
            failures=failures,
            open_until=until,
            error=error,
            dedupe_key=key,
        )
    )
