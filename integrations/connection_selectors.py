"""Reads for connections: the list the API and the dashboard show (stored connections plus the
read-only "environment" one of each platform configured through environment variables), and
the default connection a sync uses for a platform."""

from __future__ import annotations

from django.db.models import QuerySet

from integrations.environment import EnvironmentConnection, environment_connection, environment_connections
from integrations.models import Connection

AnyConnection = Connection | EnvironmentConnection


def connection_list(*, platform: str | None = None) -> QuerySet[Connection]:
    """Stored connections (with who connected them), by platform then label."""
    qs = Connection.objects.select_related("connected_by")
    if platform:
        qs = qs.filter(platform=platform)
    return qs.order_by("platform", "label", "id")


def connection_list_all(*, platform: str | None = None) -> list[AnyConnection]:
    """Stored connections, then the environment ones (each platform configured by variables)."""
    stored: list[AnyConnection] = list(connection_list(platform=platform))
    return stored + [env for env in environment_connections() if platform in (None, env.platform)]


def connection_get(*, connection_id: int) -> Connection:
    """One stored connection. Raises Connection.DoesNotExist."""
    return Connection.objects.select_related("connected_by").get(pk=connection_id)


def connection_default(*, platform: str) -> AnyConnection | None:
    """The connection a sync uses for `platform` when none is named: its only stored connection,
    else the environment one, else (several stored, no environment) the oldest stored one; None
    when there is none at all (demo mode).

    A disconnected (DISABLED) row is kept so a Reconnect keeps its id, but it has no secrets
    left: it must not count, or it would shadow the environment credentials. A connection that
    needs reconnecting does count (not `usable()`): its sync then fails saying "reconnect",
    rather than falling back to demo data without a word."""
    stored = list(
        Connection.objects.filter(platform=platform).exclude(status=Connection.Status.DISABLED).order_by("id")[:2]
    )
    if len(stored) == 1:
        return stored[0]
    return environment_connection(platform) or (stored[0] if stored else None)
