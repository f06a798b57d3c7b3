"""/api/v1/me/push-subscriptions: the caller's browsers and phones that receive Web Push."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from accounts.actor import ORIGIN_API, Actor
from tasks import push
from tasks.models import PushSubscription
from tracker_project.api_errors import ApiError, reject_unknown_query
from tracker_project.api_fields import MAX_DB_ID, SafeText
from tracker_project.api_schemas import error_responses

router = Router(tags=["notifications"])


class PushKeys(Schema):
    model_config = ConfigDict(extra="forbid")

    p256dh: Annotated[SafeText, Field(min_length=1, max_length=200)]
    auth: Annotated[SafeText, Field(min_length=1, max_length=100)]


class PushSubscriptionIn(Schema):
    """What the browser's `PushSubscription.toJSON()` gives, plus an optional device name."""

    model_config = ConfigDict(extra="forbid")

    endpoint: Annotated[SafeText, Field(min_length=1, max_length=2000)]
    keys: PushKeys
    expirationTime: float | None = Field(None, description="Ignored (browsers send null or a time).")
    name: Annotated[SafeText, Field(max_length=100)] = Field("", description="Defaults to the browser and system.")


class PushSubscriptionOut(Schema):
    id: int
    name: str
    endpoint_host: str = Field(description="The push service (the full endpoint is a secret of the device).")
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    last_error: str


class PushSubscriptionListOut(Schema):
    items: list[PushSubscriptionOut]
    count: int
    push_enabled: bool = Field(description="Whether this server has VAPID keys and can send push at all.")
    vapid_public_key: str = Field(description="The `applicationServerKey` to subscribe with.")


def subscription_out(s: PushSubscription) -> dict[str, Any]:
    from urllib.parse import urlsplit

    return {
        "id": s.pk,
        "name": s.name,
        "endpoint_host": urlsplit(s.endpoint).hostname or "",
        "created_at": s.created_at,
        "last_used_at": s.last_used_at,
        "last_error": s.last_error,
    }


def _user(request: HttpRequest) -> Any:
    return request.auth_user  # type: ignore[attr-defined]


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    if not hasattr(exc, "error_dict"):
        return [{"loc": ["body"], "msg": " ".join(exc.messages)}]
    return [
        {"loc": ["body", *field.split(".")], "msg": " ".join(messages)} for field, messages in exc.message_dict.items()
    ]


@router.get(
    "/me/push-subscriptions",
    response={200: PushSubscriptionListOut, **error_responses()},
    summary="Your devices that receive push notifications",
)
def list_push_subscriptions(request: HttpRequest) -> dict[str, Any]:
    reject_unknown_query(request)
    items = [subscription_out(s) for s in push.push_subscriptions_of(user=_user(request))]
    return {
        "items": items,
        "count": len(items),
        "push_enabled": push.push_configured(),
        "vapid_public_key": push.vapid_public_key(),
    }


@router.post(
    "/me/push-subscriptions",
    response={200: PushSubscriptionOut, 201: PushSubscriptionOut, **error_responses(409)},
    summary="Receive push notifications on this browser (its PushSubscription JSON)",
)
def create_push_subscription(request: HttpRequest, payload: PushSubscriptionIn) -> Status:
    if not push.push_configured():
        raise ApiError(409, "Push notifications are not set up on this server (no VAPID keys).", "PUSH_NOT_CONFIGURED")
    try:
        subscription, created = push.push_subscription_save(
            user=_user(request),
            endpoint=payload.endpoint,
            p256dh=payload.keys.p256dh,
            auth=payload.keys.auth,
            user_agent=request.headers.get("User-Agent", ""),
            name=payload.name,
            actor=Actor.from_request(request, origin=ORIGIN_API),
        )
    except ValidationError as exc:
        raise ApiError(422, _errors(exc)) from None
    return Status(201 if created else 200, subscription_out(subscription))


@router.delete(
    "/me/push-subscriptions/{subscription_id}",
    response={204: None, **error_responses(404)},
    summary="Stop push notifications to one of your devices",
)
def delete_push_subscription(request: HttpRequest, subscription_id: int) -> Status:
    missing = ApiError(404, f"No push subscription with id {subscription_id}.")
    if not 1 <= subscription_id <= MAX_DB_ID:
        raise missing
    try:
        push.push_subscription_delete(
            user=_user(request), subscription_id=subscription_id, actor=Actor.from_request(request, origin=ORIGIN_API)
        )
    except PushSubscription.DoesNotExist:
        raise missing from None
    return Status(204, None)
