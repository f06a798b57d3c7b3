"""Writes for sync bookkeeping, shared by every sync in the product: claiming a run slot (two
runs of one sync never overlap), progress and per-record errors, finishing a run, and the
incremental state and health of each connector."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.breaker import breaker_announce, breaker_record_run, breaker_wait
from integrations.connectors.base import storable
from integrations.models import MAX_RECORD_ERRORS, ConnectorState, SyncRecordError, SyncRun

logger = logging.getLogger(__name__)

ABANDONED = "Abandoned: the worker running it stopped (e.g. the cluster was killed) before it finished."
_LOCK_CLASS = 0x5C1C
_KEEP = object()


class SyncSkipped(Exception):
    """The sync was not started: another run of it is in progress (or the queued run it was
    asked to perform has already been done). `run` is that other run, when there is one."""

    def __init__(self, run: SyncRun | None, reason: str) -> None:
        super().__init__(reason)
        self.run = run
        self.reason = reason


def _lock_key(connector: str, scope: str) -> tuple[int, int]:
    return _LOCK_CLASS, zlib.crc32(f"{connector}:{scope}".encode()) & 0x7FFFFFFF


def _try_lock(key: tuple[int, int]) -> bool | None:
    """PostgreSQL: a session advisory lock, held by the worker for the whole run and released by
    the server if the worker dies, so a free lock next to a "running" row means its worker is
    gone. None on other databases (they rely on the running row and its heartbeat)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", list(key))
        return bool(cursor.fetchone()[0])


def _unlock(key: tuple[int, int]) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", list(key))
    except Exception:
        logger.warning("Could not release sync lock %s", key, exc_info=True)


def stale_after() -> timedelta:
    """A running row whose heartbeat is older than this belongs to a dead worker (SQLite; on
    PostgreSQL the advisory lock tells at once)."""
    return timedelta(seconds=float(getattr(settings, "SYNC_STALE_AFTER", 600)))


def _running(connector: str, scope: str) -> SyncRun | None:
    return SyncRun.objects.running().filter(connector=connector, scope=scope).first()


def _abandon(run: SyncRun) -> None:
    now = timezone.now()
    SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.FAILED, finished_at=now, error=ABANDONED
    )
    ConnectorState.objects.filter(connector=run.connector, scope=run.scope).update(
        last_error=ABANDONED, last_error_at=now, updated_at=now
    )
    logger.warning("Sync run %s (%s %s) was abandoned by its worker; taken over", run.pk, run.connector, run.scope)


def _is_dead(run: SyncRun, *, lock_free: bool | None) -> bool:
    if run.heartbeat_at is None:
        return False
    if lock_free:
        return True
    return timezone.now() - run.heartbeat_at > stale_after()


def _create(
    *, connector: str, scope: str, trigger: str, sponsor_id: int | None, queued: bool
) -> tuple[SyncRun | None, bool]:
    now = timezone.now()
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                connector=connector,
                scope=scope,
                sponsor_id=sponsor_id,
                trigger=trigger,
                status=SyncRun.Status.RUNNING,
                started_at=now,
                heartbeat_at=None if queued else now,
            )
        return run, True
    except IntegrityError:
        # Another process created the running row between our check and our insert.
        return _running(connector, scope), False


def _claim(
    *, connector: str, scope: str, trigger: str, sponsor_id: int | None, run_id: int | None, lock_free: bool | None
) -> SyncRun:
    if run_id is not None:
        asked = SyncRun.objects.filter(pk=run_id).first()
        if asked is not None and not asked.is_running:
            raise SyncSkipped(asked, "this run has already been done")
    existing = _running(connector, scope)
    if existing is not None:
        if existing.heartbeat_at is None:
            # A queued run: whoever gets here first performs it (one conditional UPDATE wins).
            now = timezone.now()
            if SyncRun.objects.filter(pk=existing.pk, status="running", heartbeat_at__isnull=True).update(
                heartbeat_at=now, started_at=now
            ):
                existing.heartbeat_at = existing.started_at = now
                return existing
            raise SyncSkipped(existing, "already running")
        if not _is_dead(existing, lock_free=lock_free):
            raise SyncSkipped(existing, "already running")
        _abandon(existing)
    run, created = _create(connector=connector, scope=scope, trigger=trigger, sponsor_id=sponsor_id, queued=False)
    if not created or run is None:
        raise SyncSkipped(run, "already running")
    return run


@contextmanager
def sync_run_begin(
    *, connector: str, scope: str, trigger: str, sponsor_id: int | None = None, run_id: int | None = None
) -> Iterator[SyncRun]:
    """Hold the (connector, scope) slot for the duration of the block and yield its run: a new
    one, or the queued run `run_id` (or any queued run of the scope). A run whose worker died
    is marked failed and replaced. Raises SyncSkipped when a live run holds the slot.

    An exception escaping the block marks the run failed (and is re-raised)."""
    key = _lock_key(connector, scope)
    locked = _try_lock(key)
    if locked is False:
        raise SyncSkipped(_running(connector, scope), "already running")
    try:
        run = _claim(
            connector=connector,
            scope=scope,
            trigger=trigger,
            sponsor_id=sponsor_id,
            run_id=run_id,
            lock_free=locked,
        )
        try:
            yield run
        except BaseException as exc:
            SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error=f"Internal error: {type(exc).__name__}: {exc}"[:2000],
            )
            raise
    finally:
        if locked:
            _unlock(key)


def requeue_after() -> timedelta:
    """A run still waiting in the queue after this long is queued again (its job may have been
    lost with a broker or a cluster); a duplicate job finds the run taken and does nothing."""
    return timedelta(seconds=float(getattr(settings, "SYNC_REQUEUE_AFTER", 300)))


def _queue_again(run: SyncRun) -> bool:
    queued_at = parse_datetime(str((run.details or {}).get("queued_at", ""))) or run.started_at
    if timezone.now() - queued_at < requeue_after():
        return False
    details = {**(run.details or {}), "queued_at": timezone.now().isoformat()}
    return bool(SyncRun.objects.filter(pk=run.pk, status="running", heartbeat_at__isnull=True).update(details=details))


def sync_run_queue(*, connector: str, scope: str, trigger: str, sponsor_id: int | None = None) -> tuple[SyncRun, bool]:
    """A run row for a job about to be queued (its heartbeat stays empty until a worker picks
    it up). Returns (run, whether to queue a job for it): a new run; or the run already queued
    or in progress for the scope, with True only when it has waited so long in the queue that
    its job may be lost."""
    key = _lock_key(connector, scope)
    locked = _try_lock(key)
    try:
        existing = _running(connector, scope)
        if existing is not None:
            if existing.is_queued:
                return existing, _queue_again(existing)
            if locked is False or not _is_dead(existing, lock_free=locked):
                return existing, False
            _abandon(existing)
        run, created = _create(connector=connector, scope=scope, trigger=trigger, sponsor_id=sponsor_id, queued=True)
        if run is None:
            run = SyncRun.objects.running().get(connector=connector, scope=scope)
        return run, created
    finally:
        if locked:
            _unlock(key)


class SyncRunLog:
    """Counts, per-record errors and conflicts of one run, written after each batch (which also
    refreshes the heartbeat). Errors beyond MAX_RECORD_ERRORS are counted, not stored."""

    COUNTS = ("fetched", "created", "updated", "unchanged", "removed", "failed", "conflicts", "pages")

    def __init__(self, run: SyncRun) -> None:
        self.run = run
        self.counts = dict.fromkeys(self.COUNTS, 0)
        self._stored = 0
        self._pending: list[SyncRecordError] = []

    def add(self, **deltas: int) -> None:
        for name, delta in deltas.items():
            self.counts[name] += delta

    def _keep(self, *, kind: str, external_id: str, message: str, detail: Any) -> None:
        if self._stored + len(self._pending) >= MAX_RECORD_ERRORS:
            return
        self._pending.append(
            SyncRecordError(
                run=self.run,
                kind=kind,
                external_id=storable(external_id)[:255],
                message=storable(message)[:2000],
                detail=_bounded(detail),
            )
        )

    def error(self, *, message: str, external_id: str = "", detail: Any = None) -> None:
        """A record that failed alone (the run becomes partial)."""
        self.counts["failed"] += 1
        self._keep(kind=SyncRecordError.Kind.ERROR, external_id=external_id, message=message, detail=detail)

    def conflict(self, *, external_id: str, message: str, detail: dict[str, Any]) -> None:
        """A field changed on both sides since the last sync, resolved by the stated rule."""
        self.counts["conflicts"] += 1
        self._keep(kind=SyncRecordError.Kind.CONFLICT, external_id=external_id, message=message, detail=detail)

    def heartbeat(self) -> None:
        """Show the run is alive (e.g. while it waits out a platform's Retry-After)."""
        now = timezone.now()
        SyncRun.objects.filter(pk=self.run.pk).update(heartbeat_at=now)
        self.run.heartbeat_at = now

    def flush(self) -> None:
        """Write the stored errors and the counts so far; refresh the heartbeat."""
        if self._pending:
            SyncRecordError.objects.bulk_create(self._pending)
            self._stored += len(self._pending)
            self._pending = []
        now = timezone.now()
        SyncRun.objects.filter(pk=self.run.pk).update(heartbeat_at=now, **self.counts)
        for name, value in self.counts.items():
            setattr(self.run, name, value)
        self.run.heartbeat_at = now

    @transaction.atomic
    def finish(self, *, error: str = "", details: dict[str, Any] | None = None) -> SyncRun:
        """Close the run: failed with `error`, else partial when records failed, else succeeded."""
        self.flush()
        run = self.run
        if error:
            run.status = SyncRun.Status.FAILED
        elif self.counts["failed"]:
            run.status = SyncRun.Status.PARTIAL
        else:
            run.status = SyncRun.Status.SUCCEEDED
        run.error = storable(error)[:5000]
        run.finished_at = timezone.now()
        if details:
            run.details = {**(run.details or {}), **details}
        run.save(update_fields=["status", "error", "finished_at", "details"])
        return run


def _bounded(detail: Any, *, limit: int = 4000) -> Any:
    """A record kept for the drill-down: storable (no NUL, no lone surrogates) and cut down,
    so one odd or huge record cannot break or bloat the table."""
    if detail is None:
        return {}
    try:
        text = json.dumps(detail, default=str, ensure_ascii=False).replace("\\u0000", "")
    except (TypeError, ValueError):
        text = json.dumps({"repr": repr(detail)})
    text = storable(text)
    if len(text) > limit:
        return {"truncated": text[:limit]}
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}


@transaction.atomic
def connector_state_after_run(
    *,
    run: SyncRun,
    cursor: Any = _KEEP,
    cursor_target: str = "",
    needs_reauth: bool = False,
    details: dict[str, Any] | None = None,
) -> ConnectorState:
    """Record a finished run on its connector state. The cursor moves only for a run that
    completed (its data is committed); a failed run keeps the old one. The run also counts
    towards the scope's circuit breaker (integrations/breaker.py); staff hear when it opens."""

    state, _ = ConnectorState.objects.select_for_update().get_or_create(connector=run.connector, scope=run.scope)
    now = timezone.now()
    state.last_run = run
    if run.status == SyncRun.Status.FAILED:
        state.last_error = run.error
        state.last_error_at = run.finished_at or now
        state.needs_reauth = needs_reauth or state.needs_reauth
    else:
        state.last_success_at = run.finished_at or now
        state.needs_reauth = False
        if cursor is not _KEEP:
            state.cursor = cursor or ""
            state.cursor_target = cursor_target
    if details:
        state.details = {**(state.details or {}), **details}
    opened = breaker_record_run(state=state, run=run)
    state.updated_at = now
    state.save()
    if opened:
        breaker_announce(state=state)
    return state


@transaction.atomic
def breaker_allows(*, connector: str, scope: str, now: datetime | None = None) -> bool:
    """May the schedule run (connector, scope) at `now`? True when the breaker is closed, or
    open and its wait is over: that run is the step's one probe, so the next try moves on at
    once to the following step (a second tick before the probe ends is held back)."""
    now = now or timezone.now()
    state = ConnectorState.objects.select_for_update().filter(connector=connector, scope=scope).first()
    if state is None or state.breaker_open_until is None:
        return True
    if now < state.breaker_open_until:
        return False
    state.breaker_open_until = now + breaker_wait(state.consecutive_failures + 1)
    state.save(update_fields=["breaker_open_until"])
    return True


@transaction.atomic
def connector_state_reset(*, connector: str, scope: str) -> None:
    """Forget a scope's cursor (the next pull is a full one)."""
    ConnectorState.objects.filter(connector=connector, scope=scope).update(
        cursor="", cursor_target="", updated_at=timezone.now()
    )


def connector_states_delete(*, scope: str) -> int:
    """Drop the states of a scope that no longer exists (e.g. a deleted sponsor)."""
    deleted, _ = ConnectorState.objects.filter(scope=scope).delete()
    return deleted


def sync_runs_prune(*, keep_days: int | None = None, keep_quiet_hours: int | None = None, limit: int = 10_000) -> int:
    """Delete old finished runs, at most `limit` per call (a backlog goes in small steps):
    runs that changed nothing and failed nothing after SYNC_QUIET_RUN_RETENTION_HOURS (24 —
    a per-minute pull makes many of them), every other run after SYNC_RUN_RETENTION_DAYS
    (30). Returns how many were deleted."""
    days = keep_days if keep_days is not None else int(getattr(settings, "SYNC_RUN_RETENTION_DAYS", 30))
    hours = (
        keep_quiet_hours
        if keep_quiet_hours is not None
        else int(getattr(settings, "SYNC_QUIET_RUN_RETENTION_HOURS", 24))
    )
    now = timezone.now()
    quiet = Q(status=SyncRun.Status.SUCCEEDED, created=0, updated=0, removed=0, failed=0, conflicts=0)
    old = list(
        SyncRun.objects.finished()
        .filter(Q(started_at__lt=now - timedelta(days=days)) | (quiet & Q(started_at__lt=now - timedelta(hours=hours))))
        .values_list("pk", flat=True)[:limit]
    )
    if not old:
        return 0
    ConnectorState.objects.filter(last_run_id__in=old).update(last_run=None)
    SyncRun.objects.filter(pk__in=old).delete()
    return len(old)
