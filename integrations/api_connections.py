"""/api/v1/connections: the platform accounts Tracker syncs with (staff only). Secrets go in
(a token or a service-account key, verified with the platform first) and never come out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from accounts.actor import ORIGIN_API, Actor
from accounts.api_auth import staff_required
from integrations import connection_selectors as selectors
from integrations.connection_services import connection_delete
from integrations.connection_verify import ConnectionExists, ConnectionRefused, connection_add, connection_test
from integrations.credentials import CredentialsKeyMissing
from integrations.environment import EnvironmentConnection, environment_connection
from integrations.models import Connection
from tracker_project.api_errors import ApiError, reject_unknown_query
from tracker_project.api_fields import SafeText
from tracker_project.api_schemas import error_responses

router = Router(tags=["connections"])

PlatformT = Literal["salesforce", "google", "asana", "meta", "tiktok"]
ENV_PREFIX = "environment-"


class ConnectionOut(Schema):
    id: int | str = Field(description='A number, or "environment-<platform>" for the read-only environment one.')
    platform: PlatformT
    label: str
    auth: Literal["oauth", "token", "service_account"]
    status: Literal["connected", "needs_reconnect", "error", "disabled"]
    account: str
    account_id: str
    account_email: str
    scopes: list[str]
    expires_at: dt.datetime | None
    last_refreshed_at: dt.datetime | None
    last_verified_at: dt.datetime | None
    last_error: str
    read_only: bool = Field(description="True for the environment connection (set by environment variables).")
    connected_at: dt.datetime | None
    connected_by: str | None


class ConnectionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    platform: PlatformT
    label: Annotated[SafeText, Field(min_length=1, max_length=100)]
    token: Annotated[SafeText, Field(min_length=1, max_length=4000)] | None = None
    service_account_json: Annotated[SafeText, Field(min_length=2, max_length=20_000)] | None = None


class ConnectionTestOut(Schema):
    ok: bool
    detail: str
    connection: ConnectionOut


def _out(connection: Connection | EnvironmentConnection) -> dict[str, Any]:
    stored = isinstance(connection, Connection)
    return {
        "id": connection.pk if stored else connection.id,
        "platform": connection.platform,
        "label": connection.label,
        "auth": connection.auth,
        "status": connection.status,
        "account": connection.account,
        "account_id": connection.account_id,
        "account_email": connection.account_email,
        "scopes": list(connection.scopes),
        "expires_at": connection.expires_at,
        "last_refreshed_at": connection.last_refreshed_at,
        "last_verified_at": connection.last_verified_at,
        "last_error": connection.last_error,
        "read_only": not stored,
        "connected_at": connection.connected_at if stored else None,
        "connected_by": str(connection.connected_by) if stored and connection.connected_by_id else None,
    }


def _staff(request: HttpRequest) -> Actor:
    if not staff_required(request):
        raise ApiError(403, "Only staff can see and change connections.")
    return Actor.from_request(request, origin=ORIGIN_API)


def _find(connection_id: str) -> Connection | EnvironmentConnection:
    if connection_id.startswith(ENV_PREFIX):
        found = environment_connection(connection_id.removeprefix(ENV_PREFIX))
        if found is not None:
            return found
    elif connection_id.isdigit() and len(connection_id) < 19:
        try:
            return selectors.connection_get(connection_id=int(connection_id))
        except Connection.DoesNotExist:
            pass
    raise ApiError(404, f"No connection with id {connection_id[:40]!r}.")


@router.get("/connections", response={200: list[ConnectionOut], **error_responses(403)}, summary="Connections")
def list_connections(request: HttpRequest, platform: PlatformT | None = None) -> list[dict[str, Any]]:
    reject_unknown_query(request, names=("platform",))
    _staff(request)
    return [_out(c) for c in selectors.connection_list_all(platform=platform)]


@router.get(
    "/connections/{connection_id}", response={200: ConnectionOut, **error_responses(403, 404)}, summary="Connection"
)
def get_connection(request: HttpRequest, connection_id: str) -> dict[str, Any]:
    reject_unknown_query(request)
    _staff(request)
    return _out(_find(connection_id))


@router.post(
    "/connections",
    response={201: ConnectionOut, **error_responses(400, 403, 409, 503)},
    summary="Add a token or service-account connection",
    description=(
        'Body `{"platform", "label", "token"}` (Asana personal access token, Meta system-user token, '
        'TikTok long-term token) or `{"platform": "google", "label", "service_account_json"}`. The '
        "credentials are checked with the platform first: 422 with the platform's reason when refused."
    ),
)
def create_connection(request: HttpRequest, payload: ConnectionIn) -> Status[dict[str, Any]]:
    actor = _staff(request)
    if bool(payload.token) == bool(payload.service_account_json):
        raise ApiError(422, "Give exactly one of token or service_account_json.")
    try:
        connection = connection_add(
            platform=payload.platform,
            label=payload.label,
            actor=actor,
            token=payload.token or "",
            service_account_json=payload.service_account_json or "",
        )
    except ConnectionRefused as exc:
        raise ApiError(422, str(exc), "PLATFORM_REFUSED") from None
    except ConnectionExists as exc:
        raise ApiError(409, str(exc)) from None
    except CredentialsKeyMissing as exc:
        raise _key_missing(exc) from None
    return Status(201, _out(connection))


@router.post(
    "/connections/{connection_id}/test",
    response={200: ConnectionTestOut, **error_responses(403, 404, 503)},
    summary="Check a connection with its platform",
)
def test_connection(request: HttpRequest, connection_id: str) -> dict[str, Any]:
    _staff(request)
    connection = _find(connection_id)
    try:
        result = connection_test(connection)
    except CredentialsKeyMissing as exc:
        raise _key_missing(exc) from None
    if isinstance(connection, Connection):
        connection.refresh_from_db()
    return {"ok": result.ok, "detail": result.detail, "connection": _out(connection)}


@router.delete("/connections/{connection_id}", response={204: None, **error_responses(403, 404, 409)}, summary="Delete")
def delete_connection(request: HttpRequest, connection_id: str) -> Status[None]:
    actor = _staff(request)
    connection = _find(connection_id)
    if isinstance(connection, EnvironmentConnection):
        names = ", ".join(connection.settings_names) or "its environment variables"
        raise ApiError(
            409,
            f"The environment connection is read-only: unset {names} and restart to remove it.",
            "READ_ONLY_CONNECTION",
        )
    connection_delete(connection=connection, actor=actor)
    return Status(204, None)


def _key_missing(exc: CredentialsKeyMissing) -> ApiError:
    """A server set-up fault, not the caller's: 503 until CREDENTIALS_KEYS is set."""
    return ApiError(503, str(exc), "CREDENTIALS_KEY_MISSING")
