"""/api/v1/notifications and /api/v1/me/preferences: the caller's own notifications and settings."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import AfterValidator, ConfigDict

from accounts.actor import ORIGIN_API, Actor
from accounts.models import UserPreference, available_time_zones
from accounts.preferences import preference_get, preference_update
from tasks import notifications
from tasks.models import Notification
from tracker_project.api_errors import ApiError, reject_unknown_query
from tracker_project.api_fields import MAX_DB_ID, JsonBool, JsonInt, SafeText
from tracker_project.api_schemas import error_responses

router = Router(tags=["notifications"])

KindT = Literal[
    "due_soon", "overdue", "stale", "sync_failed", "campaign_alert", "mention", "webhook_disabled", "digest"
]
StateT = Literal["pending", "sent", "skipped", "failed", "digest"]


class NotificationOut(Schema):
    id: int
    kind: KindT
    message: str
    task_id: uuid.UUID | None
    task_title: str | None
    object_type: str
    object_id: str
    url: str
    created_at: dt.datetime
    read_at: dt.datetime | None
    read: bool
    email_state: StateT
    webhook_state: StateT
    push_state: StateT


class NotificationListOut(Schema):
    items: list[NotificationOut]
    count: int
    unread_count: int


class NotificationListQuery(Schema):
    unread: bool | None = Field(None, description="true: only unread; false: only read.")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)


class MarkedOut(Schema):
    marked: int


def notification_out(n: Notification) -> dict[str, Any]:
    return {
        "id": n.pk,
        "kind": n.kind,
        "message": n.message,
        "task_id": n.task_id,
        "task_title": n.task.title if n.task_id and n.task else None,
        "object_type": n.object_type,
        "object_id": n.object_id,
        "url": n.url,
        "created_at": n.created_at,
        "read_at": n.read_at,
        "read": n.read_at is not None,
        "email_state": n.email_state,
        "webhook_state": n.webhook_state,
        "push_state": n.push_state,
    }


def _user(request: HttpRequest) -> Any:
    return request.auth_user  # type: ignore[attr-defined]


@router.get(
    "/notifications",
    response={200: NotificationListOut, **error_responses()},
    summary="Your notifications, newest first",
)
def list_notifications(request: HttpRequest, params: Query[NotificationListQuery]) -> dict[str, Any]:
    reject_unknown_query(request, NotificationListQuery)
    user = _user(request)
    qs = notifications.notification_list(user=user, unread=params.unread)
    items = [notification_out(n) for n in qs[params.offset : params.offset + params.limit]]
    return {"items": items, "count": qs.count(), "unread_count": notifications.notification_unread_count(user=user)}


@router.post(
    "/notifications/read-all",
    response={200: MarkedOut, **error_responses()},
    summary="Mark all your notifications read",
)
def read_all_notifications(request: HttpRequest) -> dict[str, int]:
    return {"marked": notifications.notifications_mark_all_read(user=_user(request))}


@router.post(
    "/notifications/{notification_id}/read",
    response={200: NotificationOut, **error_responses(404)},
    summary="Mark one of your notifications read",
)
def read_notification(request: HttpRequest, notification_id: int) -> dict[str, Any]:
    missing = ApiError(404, f"No notification with id {notification_id}.")
    if not 1 <= notification_id <= MAX_DB_ID:
        raise missing
    try:
        n = notifications.notification_get(user=_user(request), notification_id=notification_id)
    except Notification.DoesNotExist:
        raise missing from None
    return notification_out(notifications.notification_mark_read(notification=n))


# --- preferences -----------------------------------------------------------------------------


def _zone(value: str) -> str:
    if value not in available_time_zones():
        raise ValueError("Unknown time zone: use an IANA name such as Europe/Berlin or America/New_York.")
    return value


def _minute(value: dt.time | None) -> dt.time | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        raise ValueError("Give a local time without an offset (it is read in your time zone).")
    return value.replace(second=0, microsecond=0)


ZoneName = Annotated[SafeText, Field(min_length=1, max_length=64), AfterValidator(_zone)]
LocalTime = Annotated[dt.time | None, AfterValidator(_minute)]
WebhookUrl = Annotated[SafeText, Field(max_length=500)]
WebhookSecret = Annotated[SafeText, Field(min_length=16, max_length=128)]


class PreferencesOut(Schema):
    time_zone: str
    quiet_start: dt.time | None = Field(description="Start of quiet hours, local time (null: none).")
    quiet_end: dt.time | None = Field(description="End of quiet hours, local time; may be past midnight.")
    reminder_lead_minutes: int
    stale_after_minutes: int
    in_app: bool
    email: bool
    webhook: bool
    webhook_url: str
    webhook_secret: str = Field(description="Key of the X-Tracker-Signature HMAC-SHA256 on webhook bodies.")
    webhook_disabled_at: dt.datetime | None
    webhook_failures: int
    webhook_last_error: str
    push: bool = Field(description="Push to the devices you enabled push on (GET /me/push-subscriptions).")
    digest: bool


class PreferencesPatch(Schema):
    """Every field optional; only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    time_zone: ZoneName | None = None
    quiet_start: LocalTime = None
    quiet_end: LocalTime = None
    reminder_lead_minutes: JsonInt | None = Field(None, ge=5, le=30 * 24 * 60)
    stale_after_minutes: JsonInt | None = Field(None, ge=60, le=365 * 24 * 60)
    in_app: JsonBool | None = None
    email: JsonBool | None = None
    webhook: JsonBool | None = None
    webhook_url: WebhookUrl | None = None
    webhook_secret: WebhookSecret | None = None
    push: JsonBool | None = None
    digest: JsonBool | None = None


def preferences_out(pref: UserPreference) -> dict[str, Any]:
    return {
        "time_zone": pref.time_zone,
        "quiet_start": pref.quiet_start,
        "quiet_end": pref.quiet_end,
        "reminder_lead_minutes": int(pref.reminder_lead.total_seconds() // 60),
        "stale_after_minutes": int(pref.stale_after.total_seconds() // 60),
        "in_app": pref.notify_in_app,
        "email": pref.notify_email,
        "webhook": pref.notify_webhook,
        "webhook_url": pref.webhook_url,
        "webhook_secret": pref.webhook_secret,
        "webhook_disabled_at": pref.webhook_disabled_at,
        "webhook_failures": pref.webhook_failures,
        "webhook_last_error": pref.webhook_last_error,
        "push": pref.notify_push,
        "digest": pref.digest,
    }


# API name -> model field; durations travel as whole minutes.
_RENAMES = {"in_app": "notify_in_app", "email": "notify_email", "webhook": "notify_webhook", "push": "notify_push"}
_NOT_NULL = (
    "time_zone", "reminder_lead_minutes", "stale_after_minutes", "in_app", "email", "webhook", "push", "digest",
)  # fmt: skip


@router.get(
    "/me/preferences", response={200: PreferencesOut, **error_responses()}, summary="Your notification settings"
)
def get_preferences(request: HttpRequest) -> dict[str, Any]:
    return preferences_out(preference_get(_user(request)))


@router.patch(
    "/me/preferences",
    response={200: PreferencesOut, **error_responses()},
    summary="Change your notification settings",
)
def patch_preferences(request: HttpRequest, payload: PreferencesPatch) -> dict[str, Any]:
    sent = payload.model_dump(exclude_unset=True)
    for name in _NOT_NULL:
        if name in sent and sent[name] is None:
            raise ApiError(422, [{"loc": ["body", name], "msg": f"{name} cannot be null."}])
    values: dict[str, Any] = {}
    for name, value in sent.items():
        if name == "reminder_lead_minutes":
            values["reminder_lead"] = dt.timedelta(minutes=value)
        elif name == "stale_after_minutes":
            values["stale_after"] = dt.timedelta(minutes=value)
        elif name in ("webhook_url", "webhook_secret"):
            values[name] = (value or "").strip()
        else:
            values[_RENAMES.get(name, name)] = value
    try:
        pref = preference_update(user=_user(request), actor=Actor.from_request(request, origin=ORIGIN_API), **values)
    except ValidationError as exc:
        raise ApiError(422, _api_errors(exc)) from None
    return preferences_out(pref)


_API_NAMES = {
    "reminder_lead": "reminder_lead_minutes",
    "stale_after": "stale_after_minutes",
    **{model: api for api, model in _RENAMES.items()},
}


def _api_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """The service's errors, located by the API's own field names."""
    if not hasattr(exc, "error_dict"):
        return [{"loc": ["body"], "msg": " ".join(exc.messages)}]
    return [
        {"loc": ["body", _API_NAMES.get(field, field)], "msg": " ".join(messages)}
        for field, messages in exc.message_dict.items()
    ]
