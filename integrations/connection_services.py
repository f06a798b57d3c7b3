"""Writes for connections: create, store refreshed tokens, mark for reconnecting, delete and
re-encrypt. The one writer of integrations_connection; every change is audited, never with a
secret in the audit row."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.actor import Actor
from accounts.services import audit_record
from integrations.credentials import redact, rotate_text, secret_values
from integrations.models import Connection
from integrations.signals import connection_alert

logger = logging.getLogger(__name__)

_KEEP: Any = object()
ERROR_MAX = 1000


def _audit_fields(connection: Connection) -> dict[str, tuple[Any, Any]]:
    return {
        "platform": (None, connection.platform),
        "label": (None, connection.label),
        "auth": (None, connection.auth),
        "account": (None, connection.account),
        "scopes": (None, connection.scopes),
    }


@transaction.atomic
def connection_create(
    *,
    platform: str,
    label: str,
    auth: str,
    secrets: dict[str, str],
    actor: Actor,
    account_id: str = "",
    account_name: str = "",
    account_email: str = "",
    account_extra: dict[str, Any] | None = None,
    scopes: list[str] | None = None,
    expires_at: dt.datetime | None = None,
    verified: bool = True,
) -> Connection:
    """Save a new connection with its secrets encrypted; returns it. The caller has verified
    the credentials against the platform (`verified`). Raises IntegrityError when the same
    platform account is already connected (reconnect that one instead)."""
    now = timezone.now()
    connection = Connection(
        platform=platform,
        label=label[:100],
        auth=auth,
        status=Connection.Status.CONNECTED,
        account_id=account_id[:255],
        account_name=account_name[:255],
        account_email=account_email[:254],
        account_extra=account_extra or {},
        scopes=list(scopes or []),
        expires_at=expires_at,
        last_refreshed_at=now if auth == Connection.Auth.OAUTH else None,
        last_verified_at=now if verified else None,
        connected_by=actor.user if actor.user is not None and actor.user.pk else None,
        connected_at=now,
        created_at=now,
        updated_at=now,
    )
    connection.set_secrets(secrets)
    connection.save()
    audit_record(actor=actor, action="connection.create", obj=connection, changes=_audit_fields(connection))
    return connection


@transaction.atomic
def connection_reconnect(
    *,
    connection: Connection,
    secrets: dict[str, str],
    actor: Actor,
    account_name: str | None = None,
    account_email: str | None = None,
    account_extra: dict[str, Any] | None = None,
    scopes: list[str] | None = None,
    expires_at: dt.datetime | None = None,
) -> Connection:
    """Replace a connection's credentials after a new consent (same id, so everything mapped
    to it stays); it is connected again and may alert again later. Returns it."""
    now = timezone.now()
    before = connection.status
    connection.set_secrets(secrets)
    if account_name is not None:
        connection.account_name = account_name[:255]
    if account_email is not None:
        connection.account_email = account_email[:254]
    if account_extra is not None:
        connection.account_extra = {**connection.account_extra, **account_extra}
    if scopes is not None:
        connection.scopes = list(scopes)
    connection.expires_at = expires_at
    connection.status = Connection.Status.CONNECTED
    connection.last_error = ""
    connection.last_error_at = None
    connection.reconnect_notified_at = None
    connection.expiry_warned_at = None
    connection.last_refreshed_at = now
    connection.last_verified_at = now
    connection.connected_by = actor.user if actor.user is not None and actor.user.pk else connection.connected_by
    connection.connected_at = now
    connection.updated_at = now
    connection.save()
    audit_record(
        actor=actor,
        action="connection.reconnect",
        obj=connection,
        changes={"status": (before, connection.status), "scopes": (None, connection.scopes)},
    )
    return connection


def connection_update_tokens(
    *,
    connection: Connection,
    access_token: str,
    refresh_token: str | None = None,
    expires_at: dt.datetime | None = _KEEP,
    scopes: list[str] | None = None,
    account_extra: dict[str, Any] | None = None,
) -> Connection:
    """Store a refreshed access token (and the new refresh token when the platform rotated it,
    else the old one is kept) in one UPDATE; the connection is connected again. Call inside the
    refresh's transaction, on the row it locked. Returns the connection."""
    now = timezone.now()
    secrets = connection.secrets
    secrets["access_token"] = access_token
    if refresh_token:
        secrets["refresh_token"] = refresh_token
    connection.set_secrets(secrets)
    fields = ["secrets_encrypted", "status", "last_refreshed_at", "last_error", "last_error_at", "updated_at"]
    if expires_at is not _KEEP:
        connection.expires_at = expires_at
        fields.append("expires_at")
    if scopes is not None:
        connection.scopes = list(scopes)
        fields.append("scopes")
    if account_extra:
        connection.account_extra = {**connection.account_extra, **account_extra}
        fields.append("account_extra")
    connection.status = Connection.Status.CONNECTED
    connection.last_refreshed_at = now
    connection.last_error = ""
    connection.last_error_at = None
    connection.updated_at = now
    connection.save(update_fields=fields)
    return connection


@transaction.atomic
def connection_mark_needs_reconnect(*, connection: Connection, reason: str, actor: Actor) -> bool:
    """The platform refused the refresh token (invalid_grant) or the credentials: mark the
    connection `needs_reconnect` and tell staff, once (only on the change; later calls return
    False and stay quiet). A disconnected (DISABLED) connection is left as it is (False): a
    sync that loaded it before the Disconnect must not undo it or alert anyone. `reason` is
    scrubbed of the connection's secrets."""
    locked = Connection.objects.select_for_update().get(pk=connection.pk)
    if locked.status == Connection.Status.DISABLED:
        connection.status = locked.status
        return False
    text = _scrub(locked, reason)
    now = timezone.now()
    before = locked.status
    newly = before != Connection.Status.NEEDS_RECONNECT
    locked.status = Connection.Status.NEEDS_RECONNECT
    locked.last_error = text
    locked.last_error_at = now
    locked.updated_at = now
    fields = ["status", "last_error", "last_error_at", "updated_at"]
    if newly and locked.reconnect_notified_at is None:
        locked.reconnect_notified_at = now
        fields.append("reconnect_notified_at")
    locked.save(update_fields=fields)
    connection.status, connection.last_error, connection.last_error_at = locked.status, text, now
    connection.reconnect_notified_at = locked.reconnect_notified_at
    if not newly:
        return False
    audit_record(
        actor=actor,
        action="connection.refresh_failed",
        obj=locked,
        changes={"status": (before, locked.status), "error": (None, text)},
    )
    message = f"{locked} needs reconnecting: {text}"[:500]
    key = f"connection-reconnect:{locked.pk}:{locked.reconnect_notified_at:%Y%m%d%H%M%S%f}"
    transaction.on_commit(
        lambda: connection_alert.send(
            sender=Connection, connection=locked, reason="needs_reconnect", message=message, dedupe_key=key
        )
    )
    return True


def connection_record_error(*, connection: Connection, error: str) -> Connection:
    """Keep a failure that does not need a person yet (e.g. the token endpoint was down):
    status `error`, last error scrubbed of the connection's secrets."""
    now = timezone.now()
    connection.last_error = _scrub(connection, error)
    connection.last_error_at = now
    connection.updated_at = now
    fields = ["last_error", "last_error_at", "updated_at"]
    if connection.status == Connection.Status.CONNECTED:
        connection.status = Connection.Status.ERROR
        fields.append("status")
    connection.save(update_fields=fields)
    return connection


def connection_mark_verified(*, connection: Connection, account_extra: dict[str, Any] | None = None) -> Connection:
    """The platform accepted the credentials just now (a test or a successful call)."""
    now = timezone.now()
    connection.last_verified_at = now
    connection.updated_at = now
    fields = ["last_verified_at", "updated_at"]
    if connection.status == Connection.Status.ERROR:
        connection.status = Connection.Status.CONNECTED
        connection.last_error = ""
        connection.last_error_at = None
        fields += ["status", "last_error", "last_error_at"]
    if account_extra:
        connection.account_extra = {**connection.account_extra, **account_extra}
        fields.append("account_extra")
    connection.save(update_fields=fields)
    return connection


def connection_warn_expiry(*, connection: Connection, message: str) -> bool:
    """Warn staff once that a long-lived token (Meta) expires soon; True when the warning is new."""
    if connection.expiry_warned_at is not None:
        return False
    now = timezone.now()
    updated = Connection.objects.filter(pk=connection.pk, expiry_warned_at__isnull=True).update(
        expiry_warned_at=now, updated_at=now
    )
    connection.expiry_warned_at = now
    if not updated:
        return False
    key = f"connection-expiry:{connection.pk}:{connection.expires_at:%Y%m%d}"
    connection_alert.send(
        sender=Connection, connection=connection, reason="expires_soon", message=message, dedupe_key=key
    )
    return True


@transaction.atomic
def connection_relabel(*, connection: Connection, label: str, actor: Actor) -> Connection:
    """Rename the connection (the only field the admin edits); audited with the label before
    and after. Writes that column alone, so a token refreshed meanwhile is not overwritten.
    Returns the connection."""
    locked = Connection.objects.select_for_update().get(pk=connection.pk)
    before = locked.label
    connection.label = label
    if label == before:
        return connection
    locked.label, locked.updated_at = label, timezone.now()
    locked.save(update_fields=["label", "updated_at"])
    connection.updated_at = locked.updated_at
    audit_record(actor=actor, action="connection.relabel", obj=locked, changes={"label": (before, label)})
    return connection


@transaction.atomic
def connection_delete(*, connection: Connection, actor: Actor) -> None:
    """Delete the connection and its secrets (revoking at the platform is the caller's part)."""
    audit_record(
        actor=actor,
        action="connection.delete",
        obj=connection,
        changes={"platform": (connection.platform, None), "label": (connection.label, None)},
    )
    connection.delete()


@transaction.atomic
def connection_rotate_keys(*, actor: Actor) -> int:
    """Re-encrypt every connection's secrets with the first CREDENTIALS_KEYS key; returns how
    many were re-encrypted. Raises CredentialsUnreadable (nothing is changed then)."""
    count = 0
    for connection in Connection.objects.select_for_update().exclude(secrets_encrypted="").order_by("pk"):
        connection.secrets_encrypted = rotate_text(connection.secrets_encrypted)
        connection.save(update_fields=["secrets_encrypted"])
        count += 1
    audit_record(
        actor=actor,
        action="connection.key_rotation",
        object_type="integrations.connection",
        object_repr="all connections",
        changes={"reencrypted": (None, count)},
    )
    return count


def _scrub(connection: Connection, text: str) -> str:
    try:
        secrets = secret_values(connection.secrets)
    except Exception:  # noqa: BLE001  (an unreadable secret cannot be in the text either)
        secrets = []
    return redact(text, secrets)[:ERROR_MAX]
