"""Sync bookkeeping shared by every sync in the product: one SyncRun per run, its per-record
errors and conflicts, the incremental state of each (connector, scope), and the Connection
(one platform account with its encrypted credentials)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Per-record errors and conflicts kept per run; the counts go on past it.
MAX_RECORD_ERRORS = 500


class SyncRunQuerySet(models.QuerySet["SyncRun"]):
    def running(self) -> SyncRunQuerySet:
        return self.filter(status=SyncRun.Status.RUNNING)

    def finished(self) -> SyncRunQuerySet:
        return self.exclude(status=SyncRun.Status.RUNNING)


class SyncRun(models.Model):
    """One pull or sync run of one connector over one scope (e.g. a sponsor's Asana project)."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"
        API = "api", "API"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"

    connector = models.CharField(max_length=40, db_index=True)
    scope = models.CharField(max_length=200, blank=True, help_text='What was synced, e.g. "sponsor:12".')
    sponsor = models.ForeignKey(
        "sponsors.Sponsor", null=True, blank=True, on_delete=models.SET_NULL, related_name="sync_runs"
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    conflicts = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0, help_text="Pages fetched so far.")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    # None while the run waits in the queue; then refreshed after every page, so a run whose
    # worker died can be told from one that is still working.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the run failed (or stopped early).")
    details = models.JSONField(default=dict, blank=True, help_text="Mode (full/incremental), API usage, …")

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # Two runs of the same sync never run at once: at most one "running" row per scope.
            models.UniqueConstraint(
                fields=["connector", "scope"], condition=Q(status="running"), name="syncrun_one_running_per_scope"
            ),
        ]
        indexes = [
            models.Index(fields=["connector", "-started_at"], name="syncrun_connector_started_idx"),
            models.Index(fields=["sponsor", "-started_at"], name="syncrun_sponsor_started_idx"),
            models.Index(fields=["status", "-started_at"], name="syncrun_status_started_idx"),
            models.Index(fields=["scope", "connector", "-started_at"], name="syncrun_scope_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connector} {self.scope} #{self.pk} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING

    @property
    def connector_label(self) -> str:
        from integrations.connectors import UnknownConnector, any_connector_class

        try:
            return any_connector_class(self.connector).label
        except UnknownConnector:
            return self.connector

    @property
    def is_queued(self) -> bool:
        return self.is_running and self.heartbeat_at is None

    @property
    def duration(self) -> timedelta | None:
        """How long it ran (so far, while running); None for a run still waiting in the queue."""
        if self.finished_at is not None:
            return self.finished_at - self.started_at
        if self.is_running:
            return timezone.now() - self.started_at
        return None

    @property
    def duration_seconds(self) -> float | None:
        duration = self.duration
        return None if duration is None else round(duration.total_seconds(), 3)


class SyncRecordError(models.Model):
    """A record that failed on its own (the run goes on), or a conflict resolved by the rule."""

    class Kind(models.TextChoices):
        ERROR = "error", "Error"
        CONFLICT = "conflict", "Conflict"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="record_errors")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ERROR)
    external_id = models.CharField(max_length=255, blank=True)
    message = models.TextField()
    detail = models.JSONField(default=dict, blank=True, help_text="The record as received, or the conflict.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "kind"], name="syncrecorderror_run_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}: {self.message[:60]}"


class ConnectorState(models.Model):
    """Incremental state and health of one connector over one scope."""

    connector = models.CharField(max_length=40)
    scope = models.CharField(max_length=200, blank=True)
    cursor = models.TextField(blank=True, help_text="Sync token / cursor, moved only after its data committed.")
    cursor_target = models.CharField(
        max_length=255, blank=True, help_text="The platform object the cursor belongs to (e.g. a calendar id)."
    )
    needs_reauth = models.BooleanField(default=False, help_text="The platform refused the credentials (401).")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The circuit breaker (integrations/breaker.py): failed runs in a row, and while it is open,
    # when the schedule may try again (one probe per step); both cleared by a run that succeeds.
    consecutive_failures = models.PositiveIntegerField(default=0)
    breaker_open_until = models.DateTimeField(null=True, blank=True)
    breaker_opened_at = models.DateTimeField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["connector", "scope"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "scope"], name="connectorstate_connector_scope_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.connector} {self.scope or '(all)'}"

    @property
    def is_failing(self) -> bool:
        return self.last_error_at is not None and (
            self.last_success_at is None or self.last_error_at > self.last_success_at
        )

    @property
    def is_paused(self) -> bool:
        """The breaker is open: scheduled runs wait for `breaker_open_until` (manual ones do not)."""
        return self.breaker_open_until is not None


# The names of the secrets a connection may hold (all encrypted together in one column).
SECRET_NAMES = ("access_token", "refresh_token", "service_account_json", "client_secret")


class ConnectionQuerySet(models.QuerySet["Connection"]):
    def for_platform(self, platform: str) -> ConnectionQuerySet:
        return self.filter(platform=platform)

    def usable(self) -> ConnectionQuerySet:
        """Connections a sync may use (connected, or in error but not refused)."""
        return self.filter(status__in=[Connection.Status.CONNECTED, Connection.Status.ERROR])


class Connection(models.Model):
    """One account on one platform, with its credentials encrypted at rest.

    Credentials are data, not settings: a connection is made through the platform's OAuth
    consent, or from a token or a Google service-account key, and its tokens are refreshed
    before they expire. The secrets (`SECRET_NAMES`) live encrypted in `secrets_encrypted`
    (integrations/credentials.py); read them with `secrets`, write them through the services.
    """

    class Platform(models.TextChoices):
        SALESFORCE = "salesforce", "Salesforce"
        # One Google connection serves Calendar, Sheets and Ads with the scopes granted.
        GOOGLE = "google", "Google"
        ASANA = "asana", "Asana"
        META = "meta", "Meta"
        TIKTOK = "tiktok", "TikTok"

    class Auth(models.TextChoices):
        OAUTH = "oauth", "OAuth"
        # An Asana personal access token, a Meta system-user token or a TikTok long-term token.
        TOKEN = "token", "Token"
        SERVICE_ACCOUNT = "service_account", "Service account"

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        ERROR = "error", "Error"
        DISABLED = "disabled", "Disabled"

    platform = models.CharField(max_length=20, choices=Platform.choices, db_index=True)
    label = models.CharField(max_length=100, help_text="A name people recognise, e.g. the org or account.")
    auth = models.CharField(max_length=20, choices=Auth.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTED)
    # The external identity: Salesforce org/user, Google e-mail, Asana user, Meta user or
    # business, TikTok advertiser. `account_id` is the platform's stable id for it.
    account_id = models.CharField(max_length=255, blank=True)
    account_name = models.CharField(max_length=255, blank=True)
    account_email = models.CharField(max_length=254, blank=True)
    # Non-secret extras: instance_url and org_id (Salesforce), workspace gids (Asana),
    # advertiser_ids (TikTok), business id (Meta), identity_url, …
    account_extra = models.JSONField(default=dict, blank=True)
    scopes = models.JSONField(default=list, blank=True, help_text="The scopes the platform granted.")
    secrets_encrypted = models.TextField(blank=True, editable=False, help_text="Fernet token; never clear text.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="When the access token expires.")
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Set when staff were told the connection needs reconnecting (they are told once), and
    # when they were warned that a long-lived token expires soon; cleared by a reconnect.
    reconnect_notified_at = models.DateTimeField(null=True, blank=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connected_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        ordering = ["platform", "label", "id"]
        constraints = [
            # Reconnecting the same account finds its connection (and keeps its id).
            models.UniqueConstraint(
                fields=["platform", "account_id"],
                condition=~Q(account_id=""),
                name="connection_platform_account_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()}: {self.label}"

    # --- secrets -----------------------------------------------------------------------------
    @property
    def secrets(self) -> dict[str, str]:
        """The decrypted secrets. Raises CredentialsUnreadable / CredentialsKeyMissing."""
        from integrations.credentials import decrypt_secrets

        return decrypt_secrets(self.secrets_encrypted)

    def set_secrets(self, secrets: dict[str, str]) -> None:
        """Encrypt `secrets` into the row (not saved; the services save). Unknown names raise."""
        from integrations.credentials import encrypt_secrets

        unknown = set(secrets) - set(SECRET_NAMES)
        if unknown:
            raise ValueError(f"Unknown secret names: {sorted(unknown)}")
        self.secrets_encrypted = encrypt_secrets(secrets)

    @property
    def access_token(self) -> str:
        return self.secrets.get("access_token", "")

    @property
    def refresh_token(self) -> str:
        return self.secrets.get("refresh_token", "")

    @property
    def has_secrets(self) -> bool:
        return bool(self.secrets_encrypted)

    # --- state -------------------------------------------------------------------------------
    # Stored connections are rows; the environment ones (integrations/environment.py) are not.
    is_environment = False

    @property
    def account(self) -> str:
        """The external identity as one line for people (name, e-mail or id)."""
        return self.account_name or self.account_email or self.account_id

    @property
    def instance_url(self) -> str:
        """Salesforce: the org's API host from the token answer."""
        return str(self.account_extra.get("instance_url", ""))

    @property
    def is_usable(self) -> bool:
        return self.status in (self.Status.CONNECTED, self.Status.ERROR)

    def expires_within(self, margin: timedelta) -> bool:
        """True when the access token expires within `margin` (False when its expiry is unknown)."""
        return self.expires_at is not None and self.expires_at <= timezone.now() + margin
