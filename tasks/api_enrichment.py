"""/api/v1/tasks/{id}/enrich: refresh a task's external data now."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from accounts.actor import ORIGIN_API, Actor
from tasks import enrichment, selectors
from tasks.api import TaskOut, task_out
from tasks.models import Task
from tracker_project.api_errors import ApiError
from tracker_project.api_fields import UuidPath, parse_uuid
from tracker_project.api_schemas import error_responses

router = Router(tags=["tasks"])


@router.post(
    "/tasks/{task_id}/enrich",
    response={200: TaskOut, **error_responses(404, 409, 502, 504)},
    summary="Fetch the task's external item now",
    description=(
        "Fetches `/todos/{external_ref}` from the external API and stores it as the task's external data. "
        "404 `EXTERNAL_NOT_FOUND`: the external API has no such item; 502 `EXTERNAL_API_ERROR`: it failed "
        "or answered something unusable; 504 `EXTERNAL_API_TIMEOUT`: it did not answer in time. The task "
        "keeps the outcome either way (`enrichment_status`), and a `pending` one is retried in the background."
    ),
)
def enrich_task(request: HttpRequest, task_id: UuidPath) -> dict[str, Any]:
    pk = parse_uuid(task_id)
    try:
        if pk is None:
            raise Task.DoesNotExist
        task = selectors.task_get(task_id=pk)
    except Task.DoesNotExist:
        raise ApiError(404, "No task with that id.") from None
    if not task.external_ref:
        raise ApiError(409, "This task has no external_ref to enrich from; set one first.", "NO_EXTERNAL_REF")
    actor = Actor.from_request(request, origin=ORIGIN_API)
    try:
        enrichment.task_enrich(task=task, actor=actor)
    except enrichment.EnrichmentNotFound as exc:
        raise ApiError(404, str(exc), "EXTERNAL_NOT_FOUND") from None
    except enrichment.EnrichmentTimeout as exc:
        raise ApiError(504, str(exc), "EXTERNAL_API_TIMEOUT") from None
    except enrichment.EnrichmentUpstreamError as exc:
        raise ApiError(502, str(exc), "EXTERNAL_API_ERROR") from None
    return task_out(selectors.task_get(task_id=task.pk))
