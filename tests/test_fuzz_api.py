"""Fuzz every operation of the published OpenAPI schema with Schemathesis.

Positive and negative examples (NUL bytes, huge numbers, wrong types, unknown fields) are sent
through the real WSGI application with an API key; no response may be a 5xx, and every response
must match the schema (status code, content type and body). Part of the normal suite; the
number of examples per operation is FUZZ_EXAMPLES (default 25), e.g. FUZZ_EXAMPLES=500 for a
long run, and FUZZ_RANDOM=1 to draw new examples each run instead of the same ones.
"""

from __future__ import annotations

import itertools
import os
import uuid
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.actor import Actor
from accounts.services import api_key_create
from tasks.models import Task
from tasks.tests.factories import SponsorFactory, TaskFactory
from tracker_project.api import api

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
# Same examples on every CI run unless FUZZ_RANDOM=1 (for long exploratory runs).
FUZZ_RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


# The published schema (what /api/v1/openapi.json serves to anyone),
# built without a request since the database does not exist yet at collection time.
schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/v1/"))


class _AppBuiltOnFirstCall:
    """The WSGI app, built on the first request: by then the suite's plain-HTTP settings are in
    force, and middleware reads its settings when it is built (SecurityMiddleware's SSL redirect)."""

    handler: WSGIHandler | None = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self.handler is None:
            self.handler = WSGIHandler()
        return self.handler(environ, start_response)


schema.app = _AppBuiltOnFirstCall()
schema.location = "/api/v1/openapi.json"
schema.config.generation.update(max_examples=FUZZ_EXAMPLES)


@pytest.fixture
def _fuzz_settings(settings: Any) -> None:
    settings.API_RATE_LIMIT = "0/60"
    # Enrichment on create/update and POST .../enrich: a closed local port answers at once.
    settings.ENRICHMENT_BASE_URL = "http://127.0.0.1:9"
    settings.ENRICHMENT_TIMEOUT = 0.5
    settings.SYNC_JOBS_INLINE = False


@pytest.fixture
def fuzz_key(staff_user: Any) -> str:
    # Staff, so that the staff-only operations are exercised past their permission check.
    _, raw = api_key_create(user=staff_user, name="fuzz", actor=Actor.system_job("tests"))
    return raw


_calls = itertools.count()


def _point_at_real_tasks(case: Any) -> None:
    """Every other case aims its ids at tasks that exist, so updates and moves get past the 404.

    (A counter, not `random`: Hypothesis reseeds `random` identically for every example.)
    """
    n = next(_calls)
    if n % 2:
        return
    tasks = [str(pk) for pk in Task.objects.order_by("?").values_list("pk", flat=True)[:3]]
    while len(tasks) < 3:
        tasks.append(str(TaskFactory(sponsor=SponsorFactory()).pk))
    # Only well-formed ids are swapped, so a negative case stays negative.
    if case.path_parameters and _is_uuid(case.path_parameters.get("task_id")):
        case.path_parameters["task_id"] = tasks[0]
    if isinstance(case.body, dict):
        for field, task_id in zip(("after_id", "before_id"), tasks[1:], strict=True):
            if _is_uuid(case.body.get(field)) and (n // 2) % 3:
                case.body[field] = task_id


def _is_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and bool(uuid.UUID(value))
    except ValueError:
        return False


@pytest.mark.postgres_only
# Each request commits as in production: no test transaction to hide a poisoned connection.
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_fuzz_settings")
@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    max_examples=FUZZ_EXAMPLES,
    derandomize=not FUZZ_RANDOM,
    database=None,
)
def test_api_survives_fuzzing(case: Any, fuzz_key: str) -> None:
    _point_at_real_tasks(case)
    case.call_and_validate(headers={"X-API-Key": fuzz_key}, checks=CHECKS)


@pytest.mark.django_db
def test_fuzzing_covers_every_operation(client: Any, api_key: str) -> None:
    """Guard against an operation silently dropping out of the schema (and so of the fuzzing)."""
    published = client.get("/api/v1/openapi.json", HTTP_X_API_KEY=api_key).json()
    assert published == schema.raw_schema, "the fuzzed schema is the one the API publishes"
    paths = published["paths"]
    operations = {(method.upper(), path) for path, item in paths.items() for method in item}
    expected = {
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/tasks"),
        ("POST", "/api/v1/tasks"),
        ("GET", "/api/v1/tasks/{task_id}"),
        ("PUT", "/api/v1/tasks/{task_id}"),
        ("PATCH", "/api/v1/tasks/{task_id}"),
        ("DELETE", "/api/v1/tasks/{task_id}"),
        ("POST", "/api/v1/tasks/{task_id}/move"),
        ("GET", "/api/v1/tasks/{task_id}/history"),
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/audit"),
        ("POST", "/api/v1/tasks/{task_id}/enrich"),
        ("GET", "/api/v1/notifications"),
        ("POST", "/api/v1/notifications/read-all"),
        ("POST", "/api/v1/notifications/{notification_id}/read"),
        ("GET", "/api/v1/me/preferences"),
        ("PATCH", "/api/v1/me/preferences"),
        ("POST", "/api/v1/sponsors"),
        ("GET", "/api/v1/sponsors"),
        ("GET", "/api/v1/sponsors/{sponsor_id}"),
        ("PATCH", "/api/v1/sponsors/{sponsor_id}"),
        ("DELETE", "/api/v1/sponsors/{sponsor_id}"),
        ("GET", "/api/v1/sponsors/{sponsor_id}/tasks"),
        ("POST", "/api/v1/sponsors/{sponsor_id}/sync"),
        ("GET", "/api/v1/sync/runs"),
        ("GET", "/api/v1/sync/runs/{run_id}"),
        ("GET", "/api/v1/sync/connectors"),
        ("GET", "/api/v1/scheduler/status"),
        ("POST", "/api/v1/scheduler/stop"),
        ("POST", "/api/v1/scheduler/start"),
        ("POST", "/api/v1/scheduler/sync-now"),
        ("GET", "/api/v1/campaigns"),
        ("GET", "/api/v1/campaigns/summary"),
        ("GET", "/api/v1/campaigns/insights"),
        ("POST", "/api/v1/campaigns/sync"),
        ("GET", "/api/v1/campaigns/alerts"),
        ("POST", "/api/v1/campaigns/alerts"),
        ("PATCH", "/api/v1/campaigns/alerts/{rule_id}"),
        ("DELETE", "/api/v1/campaigns/alerts/{rule_id}"),
        ("GET", "/api/v1/campaigns/{campaign_id}"),
        ("POST", "/api/v1/leads/sync"),
        ("GET", "/api/v1/leads/conflicts"),
        ("POST", "/api/v1/leads/conflicts/{conflict_id}/resolve"),
        ("GET", "/api/v1/leads"),
        ("POST", "/api/v1/leads"),
        ("GET", "/api/v1/leads/{lead_id}"),
        ("PATCH", "/api/v1/leads/{lead_id}"),
    }
    assert expected <= operations
