"""The connector registry: each key maps to the dotted path of its class (no import-time magic)."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from integrations.connectors.base import Connector

CONNECTORS: dict[str, str] = {
    "salesforce": "integrations.connectors.salesforce.SalesforceConnector",
    "asana": "integrations.connectors.asana.AsanaConnector",
    "google_calendar": "integrations.connectors.google_calendar.GoogleCalendarConnector",
}


class UnknownConnector(KeyError):
    pass


def get_connector_class(key: str) -> type[Connector]:
    """The class registered under `key`. Raises UnknownConnector."""
    try:
        return import_string(CONNECTORS[key])
    except KeyError:
        raise UnknownConnector(key) from None


def get_connector(key: str, **options: Any) -> Connector:
    """A ready connector (live with credentials, else its demo simulator). Options go to its
    constructor (transport, sleep, policy, timeout)."""
    return get_connector_class(key)(**options)


def connector_keys() -> list[str]:
    return list(CONNECTORS)


# The other syncs' connectors (they are not task sources), for the sync centre and run labels.
OTHER_CONNECTORS: dict[str, str] = {
    "google_sheets": "integrations.connectors.google_sheets.GoogleSheetsConnector",
}


def all_connector_paths() -> dict[str, str]:
    """Every connector of every sync: the task sources, the ad platforms, then the others."""
    from integrations.connectors.metrics import METRICS_CONNECTORS

    return {**CONNECTORS, **METRICS_CONNECTORS, **OTHER_CONNECTORS}


def any_connector_class(key: str) -> type[Any]:
    """The class of any sync's connector (all share key, label, credential_settings and
    is_configured()). Raises UnknownConnector."""
    try:
        return import_string(all_connector_paths()[key])
    except KeyError:
        raise UnknownConnector(key) from None
