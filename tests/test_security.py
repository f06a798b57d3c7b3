"""Security checks over the whole product (issue 7, part 5).

- `check --deploy` is clean with production settings, and not clean when one of them is missing;
- every unsafe route, listed from the URL config and from the OpenAPI schema, refuses a signed-in
  session request without a CSRF token (and accepts it with one: the 403 is the CSRF check);
- no GET changes data;
- one user cannot read or change another user's private objects by id;
- login brute force is limited on the app login and on the admin login;
- API keys never appear in logs (nor in the audit trail, nor anywhere in the database).

The routes are discovered, not listed by hand: a page or API operation added later is checked
without touching this file.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection, models, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RegexPattern, RoutePattern
from django.views.debug import ExceptionReporter

from accounts.actor import Actor
from accounts.models import ApiKey, AuditEvent, RateLimitCounter
from accounts.services import api_key_create
from leads.models import Lead
from sponsors.models import Sponsor
from tasks import services as task_services
from tasks.models import Task

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[1]
API_PREFIX = "/api/v1/"
SYSTEM = Actor.system_job("security tests")
UNSAFE_METHODS = ("post", "put", "patch", "delete")
CSRF_FAILURE_TEXT = b"CSRF verification failed"


# --- check --deploy -------------------------------------------------------------------------

# Only what the README's "Production" section asks for: HTTPS redirect, Secure cookies and HSTS
# must be on by default, with no variable of their own.
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50)[:50],
    "ALLOWED_HOSTS": "tracker.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://tracker.example.com",
    "DATABASE_URL": "postgres://tracker@127.0.0.1:5432/tracker",
}
# Variables that switch a secure default off; never inherited by the deploy check's environment.
SECURITY_SWITCHES = (
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "BEHIND_TLS_PROXY",
)

# One production setting left out, or one secure default switched off by its variable -> the
# warning Django's deploy check must give.
DEPLOY_VARIANTS: dict[str, tuple[dict[str, str | None], str]] = {
    "debug-on": ({"DEBUG": "true"}, "security.W018"),
    # Connection secrets cannot be encrypted without a key, and an OAuth app is set up.
    "no-credentials-keys": ({"GOOGLE_CLIENT_ID": "app.apps.example"}, "integrations.W001"),
    # Unset: the built-in development key must not pass for a production one.
    "no-secret-key": ({"SECRET_KEY": None}, "security.W009"),
    "short-secret-key": ({"SECRET_KEY": "too-short"}, "security.W009"),
    "no-ssl-redirect": ({"SECURE_SSL_REDIRECT": "false"}, "security.W008"),
    "insecure-session-cookie": ({"SESSION_COOKIE_SECURE": "false"}, "security.W012"),
    "insecure-csrf-cookie": ({"CSRF_COOKIE_SECURE": "false"}, "security.W016"),
    "no-hsts": ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
    "no-hsts-subdomains": ({"SECURE_HSTS_INCLUDE_SUBDOMAINS": "false"}, "security.W005"),
}


def _deploy_check(overrides: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    # A clean production environment: nothing inherited that the deploy check would (rightly) flag,
    # such as DJANGO_ALLOW_ASYNC_UNSAFE, which the browser tests set while they run.
    dropped = {*PRODUCTION_ENV, *SECURITY_SWITCHES, "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["DJANGO_SETTINGS_MODULE"] = "tracker_project.settings"
    for name, value in {**PRODUCTION_ENV, **overrides}.items():
        if value is not None:
            env[name] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def deploy_checks() -> dict[str, subprocess.CompletedProcess[str]]:
    """Every variant's `manage.py check --deploy`, run in parallel subprocesses."""
    runs: dict[str, dict[str, str | None]] = {
        "production": {},
        "production-with-key": {"CREDENTIALS_KEYS": "dGVzdC1jcmVkZW50aWFscy1rZXktMzItYnl0ZXMhISE="},
    }
    runs.update({name: overrides for name, (overrides, _) in DEPLOY_VARIANTS.items()})
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        results = dict(zip(runs, pool.map(_deploy_check, runs.values()), strict=True))
    return results


@pytest.mark.django_db(databases=[])
def test_deploy_check_is_clean_with_production_settings(deploy_checks: dict[str, Any]) -> None:
    # With only the five production variables, the one thing said is a note that connection
    # secrets need CREDENTIALS_KEYS (a warning once an OAuth app is set up: see the variants).
    result = deploy_checks["production"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "integrations.I001" in result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr and "ERROR" not in result.stdout + result.stderr
    with_key = deploy_checks["production-with-key"]
    assert with_key.returncode == 0, with_key.stdout + with_key.stderr
    assert "System check identified no issues" in with_key.stdout


@pytest.mark.django_db(databases=[])
@pytest.mark.parametrize("variant", sorted(DEPLOY_VARIANTS))
def test_deploy_check_fails_without_each_production_setting(deploy_checks: dict[str, Any], variant: str) -> None:
    result = deploy_checks[variant]
    expected = DEPLOY_VARIANTS[variant][1]
    assert result.returncode != 0, f"check --deploy passed with {variant}:\n{result.stdout}{result.stderr}"
    assert expected in result.stdout + result.stderr


# --- Discovering the routes -----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    pieces: tuple[Any, ...]  # the pattern objects from the root to this URL
    pattern: URLPattern
    namespace: str | None

    @property
    def text(self) -> str:
        return "".join(str(p) for p in self.pieces)

    @property
    def name(self) -> str:
        return f"{self.namespace}:{self.pattern.name}" if self.namespace else str(self.pattern.name)


def _walk(resolver: URLResolver, pieces: tuple[Any, ...] = (), namespace: str | None = None) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = ":".join(n for n in (namespace, entry.namespace) if n) or None
            yield from _walk(entry, (*pieces, entry.pattern), ns)
        else:
            yield Route((*pieces, entry.pattern), entry, namespace)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver()))


def is_api(route: Route) -> bool:
    return ("/" + route.text).startswith(API_PREFIX)


_ROUTE_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_PARAM = re.compile(r"\(\?P<(?P<name>\w+)>[^()]*\)")
_ADMIN_MODEL = re.compile(r"^admin/(?P<app>\w+)/(?P<model>\w+)/")


def _user_fields(model: type[models.Model]) -> list[str]:
    user_model = get_user_model()
    return [
        f.name
        for f in model._meta.get_fields()
        if isinstance(f, models.ForeignKey | models.OneToOneField) and f.related_model is user_model
    ]


def _first_pk(model: type[models.Model], owner: Any) -> Any:
    """An existing row's pk, preferring one owned by `owner` (the signed-in user)."""
    qs = model._base_manager.order_by("pk")
    for field in _user_fields(model):
        if field in ("user", "recipient", "owner"):
            own = qs.filter(**{field: owner}).values_list("pk", flat=True).first()
            if own is not None:
                return own
    return qs.values_list("pk", flat=True).first()


def _model_named(name: str, converter: str) -> type[models.Model] | None:
    """The model a parameter such as `task_id` or `notification_id` points at.

    Prefers this project's apps (django_q has a `Task` model too) and a primary key of the
    converter's type.
    """
    base = re.sub(r"_(id|pk)$", "", name).replace("_", "").lower()
    if not base or base in ("object", "pk", "id"):
        return None
    candidates = [m for m in apps.get_models() if m._meta.model_name == base]
    candidates += [m for m in apps.get_models() if m._meta.model_name.endswith(base) and m not in candidates]
    wanted_pk = {"uuid": models.UUIDField, "int": models.AutoField | models.BigAutoField | models.IntegerField}

    def rank(model: type[models.Model]) -> tuple[bool, bool]:
        where = Path(apps.get_app_config(model._meta.app_label).path)
        ours = where.is_relative_to(REPO) and "site-packages" not in where.parts
        pk_ok = isinstance(model._meta.pk, wanted_pk.get(converter, models.Field))
        return (not ours, not pk_ok)

    return min(candidates, key=rank) if candidates else None


def path_value(route: Route, name: str, converter: str, owner: Any) -> str:
    """A value for a URL parameter that makes the URL reach its view with a real object."""
    admin_match = _ADMIN_MODEL.match(route.text)
    if route.name == "admin:view_on_site":
        return (
            str(ContentType.objects.get_for_model(Task).pk)
            if name == "content_type_id"
            else str(_first_pk(Task, owner))
        )
    if admin_match and name in ("object_id", "id"):
        try:
            model = apps.get_model(admin_match["app"], admin_match["model"])
        except LookupError:
            model = None
        pk = _first_pk(model, owner) if model is not None else None
        return str(pk if pk is not None else 1)
    fixed = {"app_label": "tasks", "url": "no-such-page/", "key": "abc-def", "uidb36": "1"}
    if name in fixed:
        return fixed[name]
    model = _model_named(name, converter)
    pk = _first_pk(model, owner) if model is not None else None
    if pk is not None:
        return str(pk)
    return {"int": "1", "uuid": str(uuid.uuid4())}.get(converter, "x")


def concrete_path(route: Route, owner: Any) -> str:
    parts = []
    for piece in route.pieces:
        if isinstance(piece, RoutePattern):
            text = str(piece)
            parts.append(_ROUTE_PARAM.sub(lambda m: path_value(route, m["name"], m["conv"] or "str", owner), text))
        elif isinstance(piece, RegexPattern):
            text = str(piece).removeprefix("^").removesuffix("$")
            parts.append(_REGEX_PARAM.sub(lambda m: path_value(route, m["name"], "str", owner), text))
        else:  # pragma: no cover - a custom pattern class
            parts.append(str(piece))
    path = "/" + "".join(parts)
    match = resolve(path)
    assert match.func is route.pattern.callback, f"{path} does not resolve to {route.text}"
    return path


def api_schema(client: Client) -> dict[str, Any]:
    response = client.get(API_PREFIX + "openapi.json")
    assert response.status_code == 200
    return response.json()


def api_operations(schema: dict[str, Any], methods: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(method, path) for path, item in schema["paths"].items() for method in item if method in methods]


def api_path(path: str, owner: Any) -> str:
    route = Route((RoutePattern(path.lstrip("/")),), URLPattern(RoutePattern(""), lambda r: None), None)
    return re.sub(r"\{(\w+)\}", lambda m: path_value(route, m[1], "str", owner), path)


# --- Data every check works on --------------------------------------------------------------


@pytest.fixture
def world(user: Any, other_user: Any, staff_user: Any) -> dict[str, Any]:
    """A little of everything, made through the services (so audit rows exist too)."""
    # allauth keeps an EmailAddress row per user (made at sign-up, or lazily by its e-mail page for
    # users created otherwise); start from the state a signed-up user is in.
    for who in (user, other_user, staff_user):
        EmailAddress.objects.create(user=who, email=who.email, primary=True, verified=False)
    sponsor = Sponsor.objects.create(name="Acme")
    lead = Lead.objects.create(sheet_id="lead-1", name="Lena", email="lena@example.com")
    tasks = [
        task_services.task_create(actor=SYSTEM, title="First", sponsor=sponsor),
        task_services.task_create(actor=SYSTEM, title="Second", status="in_progress", lead=lead),
        task_services.task_create(actor=SYSTEM, title="Third", status="done", assignee=user),
    ]
    task_services.task_update(task=tasks[0], actor=Actor(origin="web", user=staff_user), priority="high")
    task_services.task_move(task=tasks[1], actor=SYSTEM, status="todo")
    keys = {
        who.username: api_key_create(user=who, name=f"{who.username}'s key", actor=SYSTEM)
        for who in (user, other_user, staff_user)
    }
    notification_model = _optional_model("tasks", "Notification")
    notifications = {}
    if notification_model is not None:
        for who in (user, other_user, staff_user):
            notifications[who.username] = notification_model.objects.create(
                recipient=who,
                kind="due_soon",
                task=tasks[0],
                message=f"Private message for {who.username}",
                dedupe_key=f"security-{who.username}",
                in_app_state="sent",
            )
    return {
        "tasks": tasks,
        "sponsor": sponsor,
        "lead": lead,
        "keys": keys,
        "notifications": notifications,
        "users": {"alice": user, "bob": other_user, "sam": staff_user},
    }


def _optional_model(app_label: str, name: str) -> type[models.Model] | None:
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


def _session_client(user: Any) -> Client:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(user)
    return client


def _csrf_token(client: Client) -> str:
    """Load a page that renders a token; the csrftoken cookie is then set on the client."""
    assert client.get(reverse("account_settings")).status_code == 200
    return client.cookies["csrftoken"].value


def _reverse_or_skip(name: str, **kwargs: Any) -> str:
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        pytest.skip(f"the URL {name!r} does not exist (yet)")


class _Rollback:
    """Run a request that may write (a control request) and undo it: DB rows and cookies."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def __enter__(self) -> None:
        self.cookies = copy.deepcopy(self.client.cookies)
        self.atomic = transaction.atomic()
        self.atomic.__enter__()

    def __exit__(self, *exc: Any) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)
        self.client.cookies = self.cookies


# --- CSRF on every unsafe route -------------------------------------------------------------


def test_route_discovery_finds_the_known_pages_and_operations(world: dict[str, Any]) -> None:
    names = {route.name for route in all_routes()}
    for expected in ("task_move", "task_create", "api_key_revoke", "account_login", "account_logout", "admin:index"):
        assert expected in names
    client = _session_client(world["users"]["sam"])
    ops = set(api_operations(api_schema(client), UNSAFE_METHODS))
    assert {
        ("post", "/api/v1/tasks"),
        ("delete", "/api/v1/tasks/{task_id}"),
        ("post", "/api/v1/tasks/{task_id}/move"),
    } <= ops


def test_every_api_url_is_in_the_openapi_schema(world: dict[str, Any]) -> None:
    """No API endpoint hides from the schema (and so from the CSRF and GET checks below)."""
    schema_paths = set(api_schema(_session_client(world["users"]["sam"]))["paths"])
    served = set()
    for route in all_routes():
        if is_api(route) and route.pattern.name not in ("openapi-json", "openapi-view", "api-root"):
            served.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.text))
    assert served - schema_paths == set()


def test_every_dashboard_route_refuses_unsafe_methods_without_csrf_token(world: dict[str, Any]) -> None:
    """POST/PUT/PATCH/DELETE to every non-API URL with a signed-in staff session and no token: 403.

    A 405 is accepted only from a view that takes no unsafe method at all (nothing to forge);
    the same POST with the token is not a CSRF failure, so the 403 comes from the check.
    """
    staff = world["users"]["sam"]
    client = _session_client(staff)
    token = _csrf_token(client)
    checked, failures = 0, []
    for route in all_routes():
        if is_api(route):
            continue
        path = concrete_path(route, staff)
        for method in UNSAFE_METHODS:
            response = getattr(client, method)(path, {"title": "forged"} if method == "post" else "")
            checked += 1
            if response.status_code == 405:
                continue  # a CSRF-exempt view that takes no such method: nothing to forge
            if response.status_code != 403 or CSRF_FAILURE_TEXT not in response.content:
                failures.append(f"{method.upper()} {path} ({route.name}) -> {response.status_code}")
        with _Rollback(client):
            response = client.post(path, {"title": "with token"}, HTTP_X_CSRFTOKEN=token)
        if response.status_code == 403 and CSRF_FAILURE_TEXT in response.content:
            failures.append(f"POST {path} with a valid token is still a CSRF failure: the check proves nothing")
    assert checked > 100
    assert failures == [], "\n".join(failures)


def test_every_unsafe_api_operation_refuses_a_session_without_csrf_token(world: dict[str, Any]) -> None:
    staff = world["users"]["sam"]
    client = _session_client(staff)
    token = _csrf_token(client)
    operations = api_operations(api_schema(client), UNSAFE_METHODS)
    assert len(operations) >= 5
    failures = []
    for method, template in operations:
        path = api_path(template, staff)
        body = {"title": "forged", "status": "done"}
        response = getattr(client, method)(path, body, content_type="application/json")
        ok = (
            response.status_code == 403
            and response.json().get("error_code") == "FORBIDDEN"
            and "CSRF" in str(response.json().get("detail"))
        )
        if not ok:
            failures.append(
                f"{method.upper()} {path} without token -> {response.status_code} {response.content[:200]!r}"
            )
        with _Rollback(client):
            response = getattr(client, method)(path, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
        if response.status_code == 403:
            failures.append(f"{method.upper()} {path} with a valid token -> 403: the check proves nothing")
    assert failures == [], "\n".join(failures)


# --- No GET changes data --------------------------------------------------------------------

# Rows a GET may legitimately write: the session itself and the API's request counters.
GET_MAY_WRITE: set[type[models.Model]] = {Session, RateLimitCounter}


def _table_fingerprints() -> dict[str, tuple[int, str]]:
    """Row count and a hash of every row of every table (but GET_MAY_WRITE)."""
    out = {}
    for model in apps.get_models():
        if model in GET_MAY_WRITE or model._meta.proxy or not model._meta.managed:
            continue
        fields = [f.attname for f in model._meta.concrete_fields]
        rows = list(model._base_manager.order_by("pk").values_list(*fields))
        out[model._meta.label] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def _changed(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> list[str]:
    return [
        f"{label}: {before.get(label)} -> {after.get(label)}" for label in after if before.get(label) != after[label]
    ]


_WRITE_SQL = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|MERGE|TRUNCATE)\b", re.IGNORECASE)


def _write_statements(queries: list[dict[str, Any]]) -> list[str]:
    allowed = [model._meta.db_table for model in GET_MAY_WRITE]
    return [
        q["sql"][:160]
        for q in queries
        if _WRITE_SQL.match(q["sql"]) and not any(table in q["sql"] for table in allowed)
    ]


def test_no_get_changes_data(world: dict[str, Any]) -> None:
    """GET every page (as staff and anonymously) and every API GET operation with real ids.

    Every table's row count and content hash is the same afterwards, and no request issued a
    single INSERT / UPDATE / DELETE (which also names the GET that wrote).
    """
    staff = world["users"]["sam"]
    client = _session_client(staff)
    anonymous = Client(raise_request_exception=False)
    alice = world["users"]["alice"]
    alice_client = _session_client(alice)  # (signing in writes last_login: before the snapshot)
    before = _table_fingerprints()
    assert before["tasks.Task"][0] == 3 and before["accounts.AuditEvent"][0] > 0

    requests: list[tuple[str, Client, str]] = []
    for route in all_routes():
        if not is_api(route):
            path = concrete_path(route, staff)
            requests += [("staff", client, path), ("anonymous", anonymous, path)]
    # The API as staff, and as a user who has not opened any page yet (nothing created lazily).
    for _method, template in api_operations(api_schema(client), ("get",)):
        requests += [("staff", client, api_path(template, staff)), ("alice", alice_client, api_path(template, alice))]

    errors: list[str] = []
    writes: list[str] = []
    for who, c, path in requests:
        with CaptureQueriesContext(connection) as queries:
            response = c.get(path)
        if response.status_code >= 500:
            errors.append(f"GET {path} as {who} -> {response.status_code}")
        writes += [f"GET {path} as {who}: {sql}" for sql in _write_statements(queries.captured_queries)]

    changes = _changed(before, _table_fingerprints())
    assert len(requests) > 50
    assert writes == [], "\n".join(writes)
    assert changes == [], changes
    assert errors == [], errors
    # A GET of the logout page asks for confirmation; it does not sign the user out.
    assert client.get(reverse("account_settings")).status_code == 200


# --- Private objects stay private -----------------------------------------------------------


def test_cannot_revoke_or_see_another_users_api_key(world: dict[str, Any]) -> None:
    alice = world["users"]["alice"]
    bob_key, bob_raw = world["keys"]["bob"]
    client = Client()
    client.force_login(alice)

    settings_page = client.get(reverse("account_settings")).content.decode()
    assert bob_key.name not in settings_page and bob_key.prefix not in settings_page
    response = client.post(reverse("api_key_revoke", kwargs={"key_id": bob_key.pk}))
    assert response.status_code == 404

    bob_key.refresh_from_db()
    assert bob_key.revoked_at is None
    assert not AuditEvent.objects.filter(action="api_key.revoke").exists()
    me = Client().get(API_PREFIX + "me", HTTP_X_API_KEY=bob_raw)
    assert me.status_code == 200 and me.json()["username"] == "bob"


def test_non_staff_cannot_open_private_objects_in_the_admin(world: dict[str, Any]) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(world["users"]["alice"])
    bob_key = world["keys"]["bob"][0]
    for model, pk in [(ApiKey, bob_key.pk)] + [
        (type(n), n.pk) for name, n in world["notifications"].items() if name == "bob"
    ]:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])
        response = client.get(url)
        assert response.status_code in (302, 403), url
        assert bob_key.prefix not in response.content.decode()


def test_cannot_read_or_mark_another_users_notification(world: dict[str, Any]) -> None:
    if not world["notifications"]:
        pytest.skip("no Notification model (yet)")
    bob_note = world["notifications"]["bob"]
    url = _reverse_or_skip("notification_read", notification_id=bob_note.pk)
    client = Client()
    client.force_login(world["users"]["alice"])

    inbox = client.get(_reverse_or_skip("notification_list")).content.decode()
    assert "Private message for alice" in inbox and "Private message for bob" not in inbox
    assert client.post(url).status_code == 404
    assert client.post(_reverse_or_skip("notification_read_all")).status_code in (200, 302)
    bob_note.refresh_from_db()
    assert bob_note.read_at is None


def test_cannot_read_or_mark_another_users_notification_through_the_api(world: dict[str, Any]) -> None:
    if not world["notifications"]:
        pytest.skip("no Notification model (yet)")
    alice_raw = world["keys"]["alice"][1]
    paths = api_schema(_session_client(world["users"]["sam"]))["paths"]
    if "/api/v1/notifications" not in paths:
        pytest.skip("the notifications API is not mounted (yet)")
    bob_note = world["notifications"]["bob"]
    client = Client()
    listed = client.get(API_PREFIX + "notifications", HTTP_X_API_KEY=alice_raw).json()
    assert [n["message"] for n in listed["items"]] == ["Private message for alice"]
    for template in paths:
        if "{notification_id}" not in template:
            continue
        for method in paths[template]:
            path = template.replace("{notification_id}", str(bob_note.pk))
            response = getattr(client, method)(path, {}, content_type="application/json", HTTP_X_API_KEY=alice_raw)
            assert response.status_code == 404, (method, path, response.content)
    bob_note.refresh_from_db()
    assert bob_note.read_at is None


def test_preferences_are_per_user(world: dict[str, Any]) -> None:
    """Preferences have no id in any URL: each page and API call reads and writes the caller's own."""
    from accounts.preferences import preference_update

    url = _reverse_or_skip("notification_preferences")
    bob = world["users"]["bob"]
    bob_pref = preference_update(
        user=bob, actor=SYSTEM, notify_webhook=True, webhook_url="https://bob.example.com/hook", time_zone="Asia/Tokyo"
    )
    bob_state = (bob_pref.time_zone, bob_pref.webhook_url, bob_pref.webhook_secret)
    client = Client()
    client.force_login(world["users"]["alice"])
    page = client.get(url).content.decode()
    assert re.search(r'value="UTC"\s+selected', page)  # alice's own (default) zone
    assert not re.search(r'value="Asia/Tokyo"\s+selected', page)
    assert "bob.example.com" not in page and bob_pref.webhook_secret not in page

    paths = api_schema(_session_client(world["users"]["sam"]))["paths"]
    if "/api/v1/me/preferences" in paths:
        api = Client()
        alice_key = world["keys"]["alice"][1]
        body = api.get(API_PREFIX + "me/preferences", HTTP_X_API_KEY=alice_key).json()
        assert "bob.example.com" not in str(body) and bob_pref.webhook_secret not in str(body)
        if "patch" in paths["/api/v1/me/preferences"]:
            response = api.patch(
                API_PREFIX + "me/preferences",
                {"time_zone": "Europe/Berlin"},
                content_type="application/json",
                HTTP_X_API_KEY=alice_key,
            )
            assert response.status_code == 200, response.content
    bob_pref.refresh_from_db()
    assert (bob_pref.time_zone, bob_pref.webhook_url, bob_pref.webhook_secret) == bob_state


# --- Login brute force ----------------------------------------------------------------------


def _login_failed_limits() -> dict[str, int]:
    """The amounts of allauth's `login_failed` rate limit, per "ip" and per "key" (the login)."""
    from allauth.core.internal.ratelimit import parse_rates

    rates = parse_rates(settings.ACCOUNT_RATE_LIMITS["login_failed"])
    return {rate.per: rate.amount for rate in rates}


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _refused(response: Any) -> bool:
    return response.status_code == 429 or (
        response.status_code == 200 and b"Too many failed login attempts" in response.content
    )


def test_login_limits_are_configured_and_shared_across_processes() -> None:
    limits = _login_failed_limits()
    assert 0 < limits["key"] <= 10 and 0 < limits["ip"] <= 50
    backend = settings.CACHES["default"]["BACKEND"]
    assert "locmem" not in backend.lower() and "dummy" not in backend.lower(), backend


def test_app_login_refuses_the_right_password_after_too_many_failures(user: Any) -> None:
    limit = _login_failed_limits()["key"]
    client = Client()
    url = reverse("account_login")
    for _ in range(limit):
        response = client.post(url, {"login": "alice", "password": "wrong-password"})
        assert response.status_code == 200 and not _refused(response)
    response = client.post(url, {"login": "alice", "password": "pw-alice-123!"})
    assert _refused(response), response.content[:500]
    assert not _signed_in(client)
    # From another address too: the limit is on the account, not only on the address.
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert _refused(other.post(url, {"login": "alice", "password": "pw-alice-123!"}))
    assert not _signed_in(other)
    assert AuditEvent.objects.filter(action="login.failed").count() >= limit


def test_app_login_still_works_below_the_limit(user: Any) -> None:
    limit = _login_failed_limits()["key"]
    client = Client()
    url = reverse("account_login")
    for _ in range(limit - 1):
        client.post(url, {"login": "alice", "password": "wrong-password"})
    response = client.post(url, {"login": "alice", "password": "pw-alice-123!"})
    assert response.status_code == 302 and _signed_in(client)


def test_app_login_limits_one_address_trying_many_accounts(user: Any) -> None:
    limit = _login_failed_limits()["ip"]
    client = Client()
    url = reverse("account_login")
    for n in range(limit):  # one guess per account name: the per-account limit never applies
        response = client.post(url, {"login": f"nobody{n}", "password": "guess"})
        assert response.status_code == 200 and not _refused(response)
    response = client.post(url, {"login": "alice", "password": "pw-alice-123!"})
    assert _refused(response)
    assert not _signed_in(client)
    # Another address is not affected.
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert other.post(url, {"login": "alice", "password": "pw-alice-123!"}).status_code == 302


def test_admin_login_goes_through_the_limited_login(staff_user: Any) -> None:
    limit = _login_failed_limits()["key"]
    client = Client()
    # The admin's own login page sends the visitor to the app's (rate-limited) login page...
    response = client.get(reverse("admin:index"), follow=True)
    final = response.redirect_chain[-1][0]
    assert final.startswith(reverse("account_login")) and "next=" in final
    assert b'name="password"' in response.content
    # ...and its form cannot be used to guess passwords around that limit.
    response = client.post(reverse("admin:login"), {"username": "sam", "password": "pw-sam-123!"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert not _signed_in(client)

    for _ in range(limit):
        response = client.post(final, {"login": "sam", "password": "wrong-password"})
        assert response.status_code == 200 and not _refused(response)
    response = client.post(final, {"login": "sam", "password": "pw-sam-123!"})
    assert _refused(response)
    assert not _signed_in(client)
    assert client.get(reverse("admin:index")).status_code == 302


# --- API keys never appear in logs ----------------------------------------------------------

_STANDARD_RECORD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class LogCapture:
    """Every record of every logger (non-propagating ones too) at DEBUG, SQL queries included."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.extra = _Collect()

    @property
    def records(self) -> list[logging.LogRecord]:
        return [*self.caplog.records, *self.extra.records]


@pytest.fixture
def every_log_record(caplog: pytest.LogCaptureFixture) -> Iterator[LogCapture]:
    caplog.set_level(logging.DEBUG)
    capture = LogCapture(caplog)
    saved = []
    for logger in [logging.getLogger(n) for n in list(logging.Logger.manager.loggerDict)]:
        saved.append((logger, logger.level, logger.disabled))
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if not logger.propagate:
            logger.addHandler(capture.extra)
    debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True
    try:
        yield capture
    finally:
        connection.force_debug_cursor = debug_cursor
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            if capture.extra in logger.handlers:
                logger.removeHandler(capture.extra)


def _record_texts(record: logging.LogRecord) -> Iterator[str]:
    yield logging.Formatter("%(name)s %(levelname)s %(message)s").format(record)
    yield repr(record.args)
    for name, value in record.__dict__.items():
        if name not in _STANDARD_RECORD_ATTRS:
            yield f"{name}={value!r}"
    request = getattr(record, "request", None)
    if request is not None:
        # What Django's AdminEmailHandler would mail (request headers included) if ADMINS were set.
        exc_info = record.exc_info or (None, record.getMessage(), None)
        yield ExceptionReporter(request, *exc_info, is_email=True).get_traceback_text()


def _secret_fragments(raw: str) -> list[str]:
    # The whole key, and every 12-character piece of the part that is never stored (after the prefix).
    return [raw] + [raw[i : i + 12] for i in range(8, len(raw) - 11, 4)]


def _everything_in_the_database() -> Iterator[tuple[str, str]]:
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for row in model._base_manager.values_list():
            yield model._meta.label, repr(row)
    for session in Session.objects.all():
        yield "session", repr(session.get_decoded())


def test_api_keys_never_appear_in_logs_audit_or_database(
    every_log_record: LogCapture, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = Client()
    web.force_login(user)
    keys: list[str] = []

    # 1. Created on the dashboard: shown once on the page, never again.
    response = web.post(reverse("api_key_create"), {"name": "laptop"})
    found = re.findall(r"trk_[A-Za-z0-9_\-]{30,}", response.content.decode())
    assert len(set(found)) == 1
    keys.append(found[0])
    assert keys[0] not in web.get(reverse("account_settings")).content.decode()

    # 2. Created by the management command: printed alone on its last line.
    out = io.StringIO()
    call_command("create_api_key", "alice", "--name", "cli", stdout=out)
    keys.append(out.getvalue().strip().splitlines()[-1])

    # 3. Used: valid, invalid, revoked, malformed, and on requests that fail.
    invalid = "trk_" + secrets.token_urlsafe(32)
    api = Client(raise_request_exception=False)
    for raw in keys:
        assert api.get(API_PREFIX + "me", HTTP_X_API_KEY=raw).status_code == 200
        assert api.get(API_PREFIX + "tasks/not-a-task", HTTP_X_API_KEY=raw).status_code in (404, 422)
        assert (
            api.post(
                API_PREFIX + "tasks", {"title": ""}, content_type="application/json", HTTP_X_API_KEY=raw
            ).status_code
            == 422
        )
        assert api.put(API_PREFIX + "me", HTTP_X_API_KEY=raw).status_code == 405
    assert api.get(API_PREFIX + "me", HTTP_X_API_KEY=invalid).status_code == 401
    assert api.get(API_PREFIX + "me", HTTP_AUTHORIZATION=f"Bearer {invalid}").status_code == 401
    key = ApiKey.objects.get(name="laptop")
    assert web.post(reverse("api_key_revoke", kwargs={"key_id": key.pk})).status_code == 302
    assert api.get(API_PREFIX + "me", HTTP_X_API_KEY=keys[0]).status_code == 401

    # An unexpected error while a key is in use: the error log (and the admin mail) must not carry it.
    def boom(**kwargs: Any) -> Any:
        raise RuntimeError("simulated failure")

    monkeypatch.setattr("tasks.selectors.task_api_page", boom)
    assert api.get(API_PREFIX + "tasks", HTTP_X_API_KEY=keys[1]).status_code == 500

    records = every_log_record.records
    # The capture works: it saw the refused requests, the crash and the SQL.
    names = {r.name for r in records}
    assert {"django.request", "django.db.backends"} <= names, names
    assert any(r.levelno >= logging.ERROR for r in records)

    # (Rendering the mail report logs template lookups itself: keep those out of the capture.)
    logging.disable(logging.CRITICAL)
    try:
        texts = [(record, text) for record in records for text in _record_texts(record)]
    finally:
        logging.disable(logging.NOTSET)
    leaks = []
    for raw in [*keys, invalid]:
        fragments = _secret_fragments(raw)
        for record, text in texts:
            if any(f in text for f in fragments):
                leaks.append(f"log {record.name} {record.levelname}: {record.getMessage()[:120]}")
        for event in AuditEvent.objects.all():
            if any(f in repr(event.__dict__) for f in fragments):
                leaks.append(f"audit event {event.pk} {event.action}")
        for where, text in _everything_in_the_database():
            if any(f in text for f in fragments):
                leaks.append(f"database {where}")
    assert leaks == [], "\n".join(sorted(set(leaks)))
    assert AuditEvent.objects.filter(action="api_key.create").count() == 2
