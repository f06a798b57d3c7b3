"""Writes for connections made from the dashboard: save a finished OAuth consent (a new
connection, or the same one reconnected), and disconnect (revoke at the platform, delete the
secrets). Every change is audited, never with a secret in the audit row.

Saving goes through `connection_create` / `connection_reconnect` (integrations/
connection_services.py). MERGE NOTE: the local half of a disconnect (`_disconnect_locally`:
secrets deleted, status disabled, row kept so a Reconnect keeps the id) has no counterpart
there yet; it belongs in connection_services.py beside `connection_delete`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actor import Actor
from accounts.services import audit_record
from integrations.connection_services import connection_create, connection_reconnect
from integrations.credentials import CredentialsKeyMissing, CredentialsUnreadable
from integrations.models import Connection
from integrations.oauth import OAuthFlowError, OAuthGrant, RevokeFailed
from integrations.oauth_providers import get_provider, http_client


class ReconnectMismatch(OAuthFlowError):
    """A Reconnect signed in as another account than the connection's: nothing is changed."""


class SecretsNotStorable(OAuthFlowError):
    """CREDENTIALS_KEYS is not set (production): the granted tokens cannot be encrypted, so
    nothing is saved."""


class AccountAlreadyConnected(OAuthFlowError):
    """A Reconnect would move the connection onto an account another connection already holds
    (platform + account_id is unique): nothing is changed."""


@dataclass(frozen=True)
class ConnectOutcome:
    connection: Connection
    created: bool


@dataclass(frozen=True)
class DisconnectOutcome:
    connection: Connection
    revoked: bool  # the platform confirmed the revocation
    revoke_error: str  # why it did not ("" when revoked or when the platform has no endpoint)


def connection_oauth_save(*, grant: OAuthGrant, actor: Actor, reconnect_id: int | None = None) -> ConnectOutcome:
    """Save a finished consent. Returns the connection and whether it is new.

    The connection to update is the Reconnect button's (`reconnect_id`), else the one already
    holding this platform account (platform + account_id), so reconnecting keeps the id and
    everything mapped to it; otherwise a new connection is made. Raises ReconnectMismatch when
    a Reconnect signed in as another account, AccountAlreadyConnected when it would take an
    account another connection holds, SecretsNotStorable when CREDENTIALS_KEYS is missing
    (nothing changes then).
    """
    try:
        try:
            return _save(grant=grant, actor=actor, reconnect_id=reconnect_id)
        except IntegrityError:
            # Two callbacks for the same new account at once: the other one created it first.
            return _save(grant=grant, actor=actor, reconnect_id=reconnect_id)
    except CredentialsKeyMissing as exc:
        raise SecretsNotStorable(f"{exc} Nothing was saved.") from None


@transaction.atomic
def _save(*, grant: OAuthGrant, actor: Actor, reconnect_id: int | None) -> ConnectOutcome:
    provider = get_provider(grant.platform)
    existing: Connection | None = None
    if reconnect_id is not None:
        existing = Connection.objects.select_for_update().filter(pk=reconnect_id, platform=grant.platform).first()
        if (
            existing is not None
            and existing.account_id
            and provider is not None
            and not provider.same_account(existing.account_id, grant.account_id)
        ):
            raise ReconnectMismatch(
                f"You signed in to {existing.get_platform_display()} as {grant.account}, but this connection is "
                f"{existing.account}. Nothing was changed: sign in as {existing.account}, or use Connect to add "
                f"{grant.account} as another connection."
            )
    if existing is None and grant.account_id:
        existing = (
            Connection.objects.select_for_update().filter(platform=grant.platform, account_id=grant.account_id).first()
        )
    if existing is None:
        connection = connection_create(
            platform=grant.platform,
            label=grant.label or grant.platform,
            auth=Connection.Auth.OAUTH,
            secrets=grant.secrets(),
            actor=actor,
            account_id=grant.account_id,
            account_name=grant.account_name,
            account_email=grant.account_email,
            account_extra=grant.account_extra,
            scopes=grant.scopes,
            expires_at=grant.expires_at,
        )
        return ConnectOutcome(connection=connection, created=True)
    account_id = grant.account_id[:255]
    if existing.account_id != account_id or existing.auth != Connection.Auth.OAUTH:
        # TikTok: the same person's authorization may now cover another set of advertisers; a
        # connection made from a pasted token becomes an OAuth one (it now has a refresh token).
        _refuse_taken_account(connection=existing, account_id=account_id, grant=grant)
        existing.account_id = account_id
        existing.auth = Connection.Auth.OAUTH
        existing.save(update_fields=["account_id", "auth"])
    connection = connection_reconnect(
        connection=existing,
        secrets=grant.secrets(),
        actor=actor,
        account_name=grant.account_name,
        account_email=grant.account_email,
        account_extra=grant.account_extra,
        scopes=grant.scopes,
        expires_at=grant.expires_at,
    )
    return ConnectOutcome(connection=connection, created=False)


def _refuse_taken_account(*, connection: Connection, account_id: str, grant: OAuthGrant) -> None:
    """Raise AccountAlreadyConnected when another connection holds `account_id` on the same
    platform. Checked before the write: the unique constraint would otherwise fail at save, and
    `connection_oauth_save`'s retry would take the same path again (a 500 on the callback)."""
    if not account_id:
        return
    other = (
        Connection.objects.filter(platform=connection.platform, account_id=account_id).exclude(pk=connection.pk).first()
    )
    if other is not None:
        raise AccountAlreadyConnected(
            f"You signed in to {connection.get_platform_display()} as {grant.account}, which is already connected "
            f'as "{other.label}" (another connection). Nothing was changed: reconnect that one instead, or '
            "disconnect and delete it first."
        )


def connection_disconnect(
    *, connection: Connection, actor: Actor, transport: httpx.BaseTransport | None = None
) -> DisconnectOutcome:
    """Revoke the connection's grant at the platform (where it has a revoke endpoint), then
    delete its secrets and mark it disabled; the row stays, so a Reconnect brings back the
    same id and everything mapped to it. A failed revocation still deletes locally: the
    outcome says why the platform did not confirm. Returns the outcome."""
    provider = get_provider(connection.platform)
    revoked, error = False, ""
    try:
        secrets = connection.secrets
    except CredentialsUnreadable:
        secrets, error = {}, "The stored token could not be decrypted, so it was not revoked at the platform."
    except CredentialsKeyMissing as exc:
        # Deleting locally needs no key; the person still asked for the token to be gone here.
        secrets, error = {}, f"{exc} So the stored token could not be read, and it was not revoked at the platform."
    if provider is not None and secrets and connection.auth == Connection.Auth.OAUTH:
        try:
            with http_client(transport) as http:
                revoked = provider.revoke(secrets=secrets, http=http)
        except RevokeFailed as exc:
            error = str(exc)
    _disconnect_locally(connection=connection, actor=actor, revoked=revoked)
    return DisconnectOutcome(connection=connection, revoked=revoked, revoke_error=error)


@transaction.atomic
def _disconnect_locally(*, connection: Connection, actor: Actor, revoked: bool) -> None:
    locked = Connection.objects.select_for_update().get(pk=connection.pk)
    before = locked.status
    now = timezone.now()
    locked.secrets_encrypted = ""
    locked.status = Connection.Status.DISABLED
    locked.expires_at = None
    locked.updated_at = now
    locked.save(update_fields=["secrets_encrypted", "status", "expires_at", "updated_at"])
    connection.secrets_encrypted, connection.status, connection.expires_at = "", locked.status, None
    audit_record(
        actor=actor,
        action="connection.disconnect",
        obj=locked,
        changes={"status": (before, locked.status), "revoked_at_platform": (None, revoked)},
    )
