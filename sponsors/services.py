"""Writes for sponsors: create, update and delete (audited), and the per-sponsor task pull."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.actor import ORIGIN_SYNC, Actor
from accounts.services import audit_record
from integrations.connectors import get_connector
from integrations.connectors.base import AuthError, Connector, ConnectorError, SyncTokenExpired
from integrations.models import ConnectorState, SyncRun
from integrations.queue import enqueue
from integrations.services import (
    SyncRunLog,
    SyncSkipped,
    connector_state_after_run,
    connector_state_reset,
    connector_states_delete,
    sync_run_begin,
    sync_run_queue,
)
from sponsors.models import PULL_SOURCES, SOURCE_FIELDS, Sponsor
from sponsors.pull import TaskPuller
from tasks.models import Notification, Task
from tasks.notifications import notification_send

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = (
    "name",
    "contact_email",
    "salesforce_account_id",
    "asana_project_gid",
    "google_calendar_id",
    "owner",
    "is_active",
)
SYNC_ACTOR = "sponsor_sync"


class SponsorNameTaken(Exception):
    """Another sponsor already has this name (names are unique, case-insensitively)."""


class SponsorNotMapped(Exception):
    """The sponsor has no id on the platform asked for."""


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for field in EDITABLE_FIELDS:
        if field in out and field not in ("is_active", "owner"):
            out[field] = str(out[field] or "").strip()
    if "name" in out and not out["name"]:
        raise ValidationError({"name": "Name must not be blank."})
    return out


def _audit_value(value: Any) -> Any:
    """The owner as a username in the audit trail; other values as they are."""
    return value.get_username() if hasattr(value, "get_username") else value


def _check_name(name: str, *, exclude_pk: int | None = None) -> None:
    qs = Sponsor.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        raise SponsorNameTaken(f"A sponsor named {name!r} already exists.")


def _save(sponsor: Sponsor, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            sponsor.save(**kwargs)
    except IntegrityError:
        raise SponsorNameTaken(f"A sponsor named {sponsor.name!r} already exists.") from None


@transaction.atomic
def sponsor_create(*, actor: Actor, name: str, **fields: Any) -> Sponsor:
    """Create a sponsor. Raises ValidationError on bad input, SponsorNameTaken on a duplicate name."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown sponsor fields: {', '.join(sorted(unknown))}")
    values = _clean({"name": name, **fields})
    sponsor = Sponsor(**values)
    sponsor.full_clean(validate_unique=False)
    _check_name(sponsor.name)
    _save(sponsor, force_insert=True)
    audit_record(
        actor=actor,
        action="sponsor.create",
        obj=sponsor,
        changes={field: (None, _audit_value(getattr(sponsor, field))) for field in EDITABLE_FIELDS},
    )
    return sponsor


@transaction.atomic
def sponsor_update(*, sponsor: Sponsor, actor: Actor, **values: Any) -> Sponsor:
    """Apply a partial update; writes (and audits) nothing when no value changes. A changed
    platform mapping forgets that platform's incremental cursor (the next pull is a full one).
    Raises ValidationError, SponsorNameTaken."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown sponsor fields: {', '.join(sorted(unknown))}")
    values = _clean(values)
    sponsor = Sponsor.objects.select_for_update().get(pk=sponsor.pk)
    changes = {f: (getattr(sponsor, f), v) for f, v in values.items() if getattr(sponsor, f) != v}
    if not changes:
        return sponsor
    for field, (_, new) in changes.items():
        setattr(sponsor, field, new)
    changes = {f: (_audit_value(old), _audit_value(new)) for f, (old, new) in changes.items()}
    sponsor.full_clean(validate_unique=False)
    if "name" in changes:
        _check_name(sponsor.name, exclude_pk=sponsor.pk)
    _save(sponsor)
    for source, field in SOURCE_FIELDS.items():
        if field in changes:
            connector_state_reset(connector=source, scope=sponsor.sync_scope)
    audit_record(actor=actor, action="sponsor.update", obj=sponsor, changes=changes)
    return sponsor


@transaction.atomic
def sponsor_delete(*, sponsor: Sponsor, actor: Actor) -> dict[str, int]:
    """Delete a sponsor with the tasks pulled for it; its other tasks (manual, lead sheet) stay,
    unlinked. Returns {"pulled_deleted": n, "unlinked": m}."""
    sponsor = Sponsor.objects.select_for_update().get(pk=sponsor.pk)
    pulled = Task.objects.filter(sponsor=sponsor, source__in=PULL_SOURCES)
    pulled_count = pulled.count()
    unlinked = Task.objects.filter(sponsor=sponsor).exclude(source__in=PULL_SOURCES).update(sponsor=None)
    pulled.delete()
    connector_states_delete(scope=sponsor.sync_scope)
    audit_record(
        actor=actor,
        action="sponsor.delete",
        obj=sponsor,
        changes={
            "name": (sponsor.name, None),
            "pulled_tasks_deleted": (pulled_count, None),
            "tasks_unlinked": (unlinked, None),
        },
    )
    sponsor.delete()
    return {"pulled_deleted": pulled_count, "unlinked": unlinked}


# --- the pull ----------------------------------------------------------------------------------


def sponsor_sync(
    *,
    sponsor: Sponsor,
    source: str,
    trigger: str,
    actor: Actor | None = None,
    connector: Connector | None = None,
    run_id: int | None = None,
    on_page: Callable[[SyncRun], None] | None = None,
) -> SyncRun:
    """Pull `sponsor`'s records from `source` into its tasks and return the run.

    Never raises for a platform failure: the run is `failed` (with the reason; a 401 also marks
    the connection as needing new credentials) or `partial` (records that failed alone). When
    another run of the same (sponsor, source) is in progress, returns that run with
    `skip_reason` set. `run_id` performs a queued run; `on_page` is called with the run after
    each page (progress). Raises SponsorNotMapped.
    """
    target = sponsor.platform_id(source)
    if not target:
        raise SponsorNotMapped(f"{sponsor} has no {source} id.")
    actor = actor or Actor.system_job(SYNC_ACTOR, origin=ORIGIN_SYNC)
    try:
        with sync_run_begin(
            connector=source, scope=sponsor.sync_scope, trigger=trigger, sponsor_id=sponsor.pk, run_id=run_id
        ) as run:
            return _pull(
                run=run,
                sponsor=sponsor,
                source=source,
                target=target,
                actor=actor,
                connector=connector,
                on_page=on_page,
            )
    except SyncSkipped as skipped:
        other = skipped.run or SyncRun.objects.filter(connector=source, scope=sponsor.sync_scope).first()
        if other is None:  # pragma: no cover  (the other run vanished in between)
            raise
        other.skip_reason = skipped.reason  # type: ignore[attr-defined]
        return other


def _pull(
    *,
    run: SyncRun,
    sponsor: Sponsor,
    source: str,
    target: str,
    actor: Actor,
    connector: Connector | None,
    on_page: Callable[[SyncRun], None] | None,
) -> SyncRun:
    log = SyncRunLog(run)
    state = ConnectorState.objects.filter(connector=source, scope=sponsor.sync_scope).first()
    own_connector = connector is None
    conn = connector or get_connector(source)
    cursor = state.cursor if conn.supports_cursor and state and state.cursor and state.cursor_target == target else None
    conn.on_wait = log.heartbeat
    puller = TaskPuller(sponsor=sponsor, source=source, label=conn.label, log=log, actor=actor, on_page=on_page)
    details: dict[str, Any] = {"mode": "incremental" if cursor else "full", "demo": conn.demo, "target": target}
    error, needs_reauth, next_cursor = "", False, None
    try:
        try:
            next_cursor, full = puller.apply_pages(conn.pull(target=target, cursor=cursor))
        except SyncTokenExpired:
            if not cursor:
                raise
            details["mode"] = "full (sync token expired)"
            next_cursor, full = puller.apply_pages(conn.pull(target=target, cursor=None))
        if full:
            puller.mark_removed_absent()
    except AuthError as exc:
        error, needs_reauth = f"{exc} — the connection needs new credentials.", True
    except ConnectorError as exc:
        error = str(exc)
    except Exception as exc:
        logger.exception("Sponsor pull %s/%s failed", sponsor.pk, source)
        error = f"Internal error: {type(exc).__name__}: {exc}"
    finally:
        if own_connector:
            conn.close()
    details.update(requests=conn.requests_made, **conn.details)
    run = log.finish(error=error, details=details)
    state_kwargs: dict[str, Any] = {"cursor": next_cursor, "cursor_target": target} if conn.supports_cursor else {}
    connector_state_after_run(run=run, needs_reauth=needs_reauth, details=conn.details, **state_kwargs)
    if run.status == SyncRun.Status.FAILED and not (state is not None and state.is_failing):
        _notify_failure(run=run, sponsor=sponsor, label=conn.label, needs_reauth=needs_reauth)
    if run.created or run.updated or run.removed or run.status == SyncRun.Status.FAILED:
        audit_record(
            actor=actor,
            action="sponsor.sync",
            obj=sponsor,
            changes={
                "source": (None, source),
                "run": (None, run.pk),
                "status": (None, run.status),
                **{name: (None, getattr(run, name)) for name in ("created", "updated", "removed", "failed")},
            },
        )
    return run


def _notify_failure(*, run: SyncRun, sponsor: Sponsor, label: str, needs_reauth: bool) -> None:
    """Tell the staff when a sponsor's pull starts failing (once per failing streak: the next
    failures of the same pull stay quiet until it has succeeded again)."""
    what = "needs new credentials" if needs_reauth else "failed"
    message = f"{label} pull for {sponsor.name} {what}: {run.error}"[:500]
    url = reverse("sync_run_detail", args=[run.pk])
    for user in get_user_model().objects.filter(is_staff=True, is_active=True):
        notification_send(
            recipient=user,
            kind=Notification.Kind.SYNC_FAILED,
            message=message,
            dedupe_key=f"sync-failed:{run.connector}:{run.scope}:{run.pk}:{user.pk}",
            obj=sponsor,
            url=url,
            payload={"run_id": run.pk, "connector": run.connector, "sponsor_id": sponsor.pk},
        )


def sponsor_sync_request(
    *, sponsor: Sponsor, actor: Actor, trigger: str, sources: list[str] | None = None
) -> list[SyncRun]:
    """Queue a pull of each mapped source (or of `sources`) for a worker; returns the runs (a
    run already queued or in progress is returned instead of a second one). Raises
    SponsorNotMapped when none of the sources asked for is mapped."""
    wanted = [s for s in (sources or sponsor.mapped_sources()) if sponsor.platform_id(s)]
    if not wanted:
        raise SponsorNotMapped(f"{sponsor} has no platform mapping to pull from.")
    runs = []
    for source in wanted:
        run, created = sync_run_queue(
            connector=source, scope=sponsor.sync_scope, trigger=trigger, sponsor_id=sponsor.pk
        )
        if created:
            enqueue("sponsors.jobs.sponsor_pull_one", sponsor.pk, source, trigger, run.pk, task_name=f"pull {run}")
        runs.append(run)
    audit_record(
        actor=actor,
        action="sponsor.sync_request",
        obj=sponsor,
        changes={"runs": (None, [r.pk for r in runs]), "sources": (None, wanted)},
    )
    return runs
