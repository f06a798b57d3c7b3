"""Enrichment: a task's `external_ref` names a todo in a JSONPlaceholder-style API (`GET /todos/{id}`);
its JSON is stored on the task as `external_data`, with `enrichment_status`:

- ok         the item was fetched and stored;
- not_found  the API answered 404 (or the reference cannot be an id);
- pending    the API was down, slow or rate-limiting: a background job retries;
- failed     the API answered something unusable (malformed JSON, JSON that is not an object,
             an unexpected 4xx).

A failed refresh never loses the data it meant to refresh: whatever the fault, `external_data`
keeps the last good answer and `enrichment_fetched_at` says when that was, while the failure is
recorded next to it (`enrichment_status`, `enrichment_error`, `enrichment_checked_at`). Only a
changed or cleared `external_ref` drops the data, since it then describes another item.

Settings: ENRICHMENT_BASE_URL (default https://jsonplaceholder.typicode.com) and
ENRICHMENT_TIMEOUT (seconds, default 5: the whole request, not each read).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.actor import Actor
from accounts.services import audit_record
from tasks.models import Task

logger = logging.getLogger(__name__)

Status = Task.EnrichmentStatus

DEFAULT_BASE_URL = "https://jsonplaceholder.typicode.com"
DEFAULT_TIMEOUT = 5.0
MAX_BODY_BYTES = 256 * 1024
# An id in the external system: letters, digits, dash, underscore, dot (no slashes: a reference
# must not be able to reach another endpoint of the API).
EXTERNAL_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class EnrichmentError(Exception):
    """The external item could not be fetched. `status` is what the task was left with."""

    status = Status.FAILED


class EnrichmentNotFound(EnrichmentError):
    status = Status.NOT_FOUND


class EnrichmentUpstreamError(EnrichmentError):
    """The API failed: `status` is PENDING when worth retrying (down, 5xx, 429), else FAILED."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.status = Status.PENDING if retryable else Status.FAILED


class EnrichmentTimeout(EnrichmentError):
    status = Status.PENDING


def external_ref_clean(value: str) -> str:
    """Validate an external reference (for API schemas and forms); returns it trimmed.

    Raises ValueError with a message fit for the user.
    """
    value = value.strip()
    if value and not EXTERNAL_REF_RE.fullmatch(value):
        raise ValueError("external_ref must be an id: letters, digits, '.', '_' or '-' (at most 64).")
    return value


def _base_url() -> str:
    return str(getattr(settings, "ENRICHMENT_BASE_URL", DEFAULT_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")


def _timeout() -> float:
    return float(getattr(settings, "ENRICHMENT_TIMEOUT", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT)


def _storable(value: Any) -> Any:
    """What PostgreSQL's jsonb can store: no NUL characters, no lone surrogates, no NaN/Infinity."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _json_kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(type(value), "a number")


def todo_fetch(ref: str, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """GET {ENRICHMENT_BASE_URL}/todos/{ref}; returns the JSON object.

    Raises EnrichmentNotFound (404 or an impossible id), EnrichmentTimeout (no complete answer
    within ENRICHMENT_TIMEOUT), EnrichmentUpstreamError (connection error, 5xx, 429: retryable;
    other statuses, an oversized or malformed body: not retryable).
    """
    if not EXTERNAL_REF_RE.fullmatch(ref or ""):
        raise EnrichmentNotFound(f"{ref!r} is not a valid external id.")
    timeout = _timeout()
    url = f"{_base_url()}/todos/{quote(ref, safe='')}"
    own_client = client is None
    client = client or httpx.Client(timeout=timeout, follow_redirects=False, headers={"Accept": "application/json"})
    deadline = time.monotonic() + timeout
    try:
        with client.stream("GET", url) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_BODY_BYTES:
                    raise EnrichmentUpstreamError("The external API sent an oversized answer.", retryable=False)
                if time.monotonic() > deadline:
                    raise EnrichmentTimeout(f"The external API did not answer within {timeout:g} s.")
    except httpx.TimeoutException as exc:
        raise EnrichmentTimeout(f"The external API did not answer within {timeout:g} s.") from exc
    except httpx.HTTPError as exc:
        raise EnrichmentUpstreamError(
            f"The external API is unreachable ({exc.__class__.__name__}).", retryable=True
        ) from exc
    finally:
        if own_client:
            client.close()
    status = response.status_code
    if status == 404:
        raise EnrichmentNotFound(f"The external API has no item {ref!r}.")
    if status == 429 or status >= 500:
        raise EnrichmentUpstreamError(f"The external API answered HTTP {status}.", retryable=True)
    if status != 200:
        raise EnrichmentUpstreamError(f"The external API answered HTTP {status}.", retryable=False)
    try:
        data = json.loads(bytes(body))
    except (ValueError, RecursionError) as exc:
        raise EnrichmentUpstreamError("The external API answered with malformed JSON.", retryable=False) from exc
    if not isinstance(data, dict):
        raise EnrichmentUpstreamError(
            f"The external API answered with JSON that is not an object ({_json_kind(data)}).", retryable=False
        )
    try:
        return _storable(data)
    except RecursionError as exc:
        raise EnrichmentUpstreamError(
            "The external API answered with JSON nested too deeply.", retryable=False
        ) from exc


# Written on every attempt; not by themselves worth an audit event (the retry job would log one
# a minute while the API is down).
_TIMESTAMPS = ("enrichment_checked_at", "enrichment_fetched_at")


@transaction.atomic
def _store(*, task: Task, ref: str, values: dict[str, Any], actor: Actor) -> bool:
    """Write `values` unless the task's reference changed meanwhile; returns whether it wrote."""
    from tasks.services import task_columns_share  # services imports this module's callers

    task_columns_share()  # before the row lock, as every task writer (tasks/services.py)
    current = Task.objects.select_for_update().filter(pk=task.pk, external_ref=ref).first()
    if current is None:
        return False
    if "enrichment_error" in values:
        values["enrichment_error"] = values["enrichment_error"][:1000]
    changes = {k: (getattr(current, k), v) for k, v in values.items() if getattr(current, k) != v}
    if not changes:
        return True
    # A queryset update: enrichment must not bump updated_at (that is about people's edits) nor
    # overwrite fields someone edited while the request was in flight.
    Task.objects.filter(pk=task.pk).update(**values)
    for name, value in values.items():
        setattr(task, name, value)
    audited = {k: v for k, v in changes.items() if k not in _TIMESTAMPS and k != "external_data"}
    if "external_data" in changes:
        # The item itself can be large: the trail says what happened to it, not its content.
        before, after = changes["external_data"]
        audited["external_data"] = (None if before is None else "…", "(cleared)" if after is None else "(refreshed)")
    if audited:
        audit_record(actor=actor, action="task.enrich", obj=current, changes=audited)
    return True


def task_enrich(*, task: Task, actor: Actor, client: httpx.Client | None = None, new_ref: bool = False) -> Task:
    """Fetch the task's external item now and store it; returns the task (refreshed).

    On failure the outcome is recorded (not_found / pending / failed, the error, the time of the
    attempt) and the matching error is raised: EnrichmentNotFound, EnrichmentTimeout or
    EnrichmentUpstreamError. Whatever the failure, the last good data stays, unless `new_ref`
    says the reference just changed (then the old data describes another item and is dropped).
    A task without an external_ref has its enrichment cleared.
    """
    ref = task.external_ref
    now = timezone.now()
    if not ref:
        cleared = dict.fromkeys(("external_data", *_TIMESTAMPS)) | {"enrichment_status": "", "enrichment_error": ""}
        _store(task=task, ref="", values=cleared, actor=actor)
        return task
    try:
        data = todo_fetch(ref, client=client)
    except EnrichmentError as exc:
        failure: dict[str, Any] = {
            "enrichment_status": exc.status,
            "enrichment_error": str(exc),
            "enrichment_checked_at": now,
        }
        if new_ref:
            failure |= {"external_data": None, "enrichment_fetched_at": None}
        _store(task=task, ref=ref, values=failure, actor=actor)
        raise
    success = {
        "external_data": data,
        "enrichment_status": Status.OK,
        "enrichment_error": "",
        "enrichment_checked_at": now,
        "enrichment_fetched_at": now,
    }
    _store(task=task, ref=ref, values=success, actor=actor)
    return task


def task_enrich_on_save(*, task: Task, actor: Actor) -> Task:
    """After a create, or an update that changed `external_ref`: try once now, never raise.

    If the API is down or slow the task keeps status `pending` and `enrichment_retry_pending`
    completes it later; the caller's request still succeeds.
    """
    try:
        task_enrich(task=task, actor=actor, new_ref=True)
    except EnrichmentError as exc:
        logger.info("Enrichment of task %s: %s (%s)", task.pk, exc, exc.status)
    return task


def enrichment_retry_pending(*, limit: int = 50) -> int:
    """Retry tasks left `pending` (or never tried); returns how many got an answer.

    Stops at the first retryable failure: the API is still down, so hammering it with the rest
    (each waiting for the timeout) would only slow the job.
    """
    actor = Actor.system_job("enrichment retry")
    done = 0
    # "" with a reference: the process died between saving the task and its first fetch.
    waiting = Q(enrichment_status=Status.PENDING) | Q(enrichment_status="")
    qs = Task.objects.filter(waiting).exclude(external_ref="").order_by("created_at", "id")
    timeout = _timeout()
    with httpx.Client(timeout=timeout, follow_redirects=False, headers={"Accept": "application/json"}) as client:
        for task in qs[:limit]:
            try:
                task_enrich(task=task, actor=actor, client=client)
            except EnrichmentError as exc:
                if exc.status == Status.PENDING:
                    logger.info("Enrichment retry stopped: %s", exc)
                    break
            done += 1
    return done
