"""Web Push: each person's subscribed browsers and phones, and sending a notification to them.

The standard W3C Push API: a browser subscribes with the site's VAPID public key and gets an
endpoint at its vendor's push service (Google's for Chrome and Edge-on-Android, Mozilla's for
Firefox, Apple's for Safari, Microsoft's for Edge) plus its own public key and auth secret.
Sending is an HTTP POST of the payload, encrypted for that one device (RFC 8291, aes128gcm),
to the endpoint, signed with our VAPID key (RFC 8292), with a TTL and an Urgency (RFC 8030).
pywebpush does the encryption and the POST; this module decides what is sent, to which
devices, and what a push service's answer means: 201 accepted, 404/410 the subscription is
gone (deleted here), 413 too large, 429 and 5xx try again later.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.actor import Actor
from accounts.services import audit_record
from tasks.channels import notification_link
from tasks.models import Notification, PushSubscription

logger = logging.getLogger(__name__)

Kind = Notification.Kind

# What a push service is told about how soon a device should wake for the message (RFC 8030 §5.3).
URGENCY = {
    Kind.OVERDUE: "high",
    Kind.DUE_SOON: "high",
    Kind.CAMPAIGN_ALERT: "normal",
    Kind.SYNC_FAILED: "normal",
    Kind.MENTION: "normal",
    Kind.WEBHOOK_DISABLED: "normal",
    Kind.STALE: "low",
    Kind.DIGEST: "low",
}
# Push services accept at least 4,096 bytes of payload; the encryption adds 103 bytes.
MAX_BODY = 1000
# A person rarely has more than a handful; this bounds what one person can make the server send.
MAX_SUBSCRIPTIONS_PER_USER = 20
GONE = (404, 410)


def push_configured() -> bool:
    """Both VAPID keys are set: push can be offered and sent."""
    return bool(settings.WEBPUSH_VAPID_PUBLIC_KEY and settings.WEBPUSH_VAPID_PRIVATE_KEY)


def vapid_public_key() -> str:
    """The key browsers subscribe with (`applicationServerKey`), or "" when push is off."""
    return settings.WEBPUSH_VAPID_PUBLIC_KEY if push_configured() else ""


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def push_service_allowed(host: str) -> bool:
    """Whether `host` is one of the browser vendors' push services (WEBPUSH_ALLOWED_HOSTS: exact
    names, or `.suffix` for any host under it). The server POSTs to a subscription's endpoint, so
    an endpoint anywhere else would let any signed-in person aim it at internal addresses."""
    host = host.lower().rstrip(".")
    for allowed in settings.WEBPUSH_ALLOWED_HOSTS:
        allowed = allowed.lower()
        if host == allowed or (allowed.startswith(".") and host.endswith(allowed)):
            return True
    return False


def _check_endpoint(endpoint: str) -> None:
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError for a port out of range
    except ValueError:
        raise ValidationError({"endpoint": "Not a valid URL."}) from None
    if parts.scheme == "https" and host and push_service_allowed(host):
        return
    loopback = False
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if parts.scheme == "http" and loopback and settings.WEBPUSH_ALLOW_LOOPBACK_HTTP:
        return
    if parts.scheme == "https" and host:
        raise ValidationError({"endpoint": f"{host} is not a browser push service this server sends to."})
    raise ValidationError({"endpoint": "A push endpoint is an https:// URL given by the browser."})


def _check_keys(p256dh: str, auth: str) -> None:
    errors = {}
    try:
        point = _b64url_decode(p256dh)
        if len(point) != 65 or point[0] != 4:
            raise ValueError
    except ValueError:
        errors["keys.p256dh"] = "Not a P-256 public key (65 bytes, uncompressed, base64url)."
    try:
        if len(_b64url_decode(auth)) != 16:
            raise ValueError
    except ValueError:
        errors["keys.auth"] = "Not an auth secret (16 bytes, base64url)."
    if errors:
        raise ValidationError(errors)


def device_name(user_agent: str) -> str:
    """A name a person recognises for a browser ("Firefox on Android"), from its User-Agent."""
    ua = user_agent or ""
    if "Edg/" in ua:
        browser = "Edge"
    elif "Firefox/" in ua:
        browser = "Firefox"
    elif "Chrome/" in ua or "Chromium/" in ua or "HeadlessChrome/" in ua:
        browser = "Chrome"
    elif "Safari/" in ua:
        browser = "Safari"
    else:
        browser = "Browser"
    for marker, system in (
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ):
        if marker in ua:
            return f"{browser} on {system}"
    return browser


# --- reads -----------------------------------------------------------------------------------


def push_subscriptions_of(*, user: Any) -> QuerySet[PushSubscription]:
    """The user's subscribed devices, newest first."""
    return PushSubscription.objects.filter(user=user).order_by("-created_at", "-id")


# --- writes ----------------------------------------------------------------------------------


@transaction.atomic
def push_subscription_save(
    *, user: Any, endpoint: str, p256dh: str, auth: str, user_agent: str = "", name: str = "", actor: Actor
) -> tuple[PushSubscription, bool]:
    """Store the browser's subscription for `user`; returns (subscription, created).

    The same endpoint again (the browser re-subscribed, or its keys changed) updates the row; an
    endpoint that belonged to someone else (the device changed hands) moves to `user`. Raises
    ValidationError for an endpoint that is not a push service URL, malformed keys, or too many
    devices.
    """
    endpoint, p256dh, auth = endpoint.strip(), p256dh.strip(), auth.strip()
    _check_endpoint(endpoint)
    _check_keys(p256dh, auth)
    name = (name.strip() or device_name(user_agent))[:100]
    existing = PushSubscription.objects.select_for_update().filter(endpoint=endpoint).first()
    if existing is None:
        if PushSubscription.objects.filter(user=user).count() >= MAX_SUBSCRIPTIONS_PER_USER:
            raise ValidationError(
                {"endpoint": f"You have {MAX_SUBSCRIPTIONS_PER_USER} devices already: remove one first."}
            )
        try:
            with transaction.atomic():  # two tabs subscribing at once: the second one updates
                subscription = PushSubscription.objects.create(
                    user=user, endpoint=endpoint, p256dh=p256dh, auth=auth, name=name, user_agent=user_agent[:300]
                )
        except IntegrityError:
            existing = PushSubscription.objects.select_for_update().get(endpoint=endpoint)
        else:
            audit_record(
                actor=actor, action="push_subscription.create", obj=subscription, changes={"name": [None, name]}
            )
            return subscription, True
    changes = {}
    if existing.user_id != user.pk:
        changes["user"] = [existing.user_id, user.pk]
    for attr, value in (("p256dh", p256dh), ("auth", auth), ("name", name), ("user_agent", user_agent[:300])):
        if getattr(existing, attr) != value:
            setattr(existing, attr, value)
            if attr == "name":
                changes["name"] = [existing.name, value]
    existing.user = user
    existing.last_error = ""
    existing.save()
    if changes:
        audit_record(actor=actor, action="push_subscription.update", obj=existing, changes=changes)
    return existing, False


@transaction.atomic
def push_subscription_delete(*, user: Any, subscription_id: int, actor: Actor) -> None:
    """Remove one of `user`'s devices. Raises PushSubscription.DoesNotExist for anyone else's."""
    subscription = PushSubscription.objects.select_for_update().get(pk=subscription_id, user=user)
    audit_record(
        actor=actor, action="push_subscription.delete", obj=subscription, changes={"name": [subscription.name, None]}
    )
    subscription.delete()


# --- sending ---------------------------------------------------------------------------------


def push_payload(notification: Notification) -> dict[str, Any]:
    """What the service worker shows: a title, a body, the page to open, and a tag that makes a
    newer message about the same thing replace the older one on the device."""
    task = notification.task
    title = notification.get_kind_display()
    if task is not None:
        title = f"{title}: {task.title}"
    body = " ".join(notification.message.split())
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "title": title[:120],
        "body": body[:MAX_BODY],
        "url": notification_link(notification),
        "tag": f"tracker-{notification.kind}-{task.pk if task is not None else notification.pk}",
    }


@dataclass
class PushResult:
    sent: int = 0  # devices whose push service accepted the message
    removed: int = 0  # subscriptions the push service said are gone (deleted)
    errors: list[str] = field(default_factory=list)  # devices to try again later

    @property
    def retry(self) -> bool:
        return not self.sent and bool(self.errors)


def push_session() -> requests.Session:
    """One HTTP session per delivery run (keep-alive to each push service). It follows no
    redirect: a push service answers 201 itself, and a redirect could lead anywhere."""
    session = requests.Session()
    session.headers["User-Agent"] = "Tracker-WebPush/1"
    session.max_redirects = 0
    return session


def push_send(
    *, notification: Notification, subscriptions: list[PushSubscription], session: requests.Session
) -> PushResult:
    """Send `notification` to each device; returns what happened.

    A device whose push service answers 404 or 410 is deleted (the browser unsubscribed or the
    subscription expired). Any other failure is recorded on the device and counted in `errors`,
    for the caller to retry with backoff. Never raises for a push service's answer.
    """
    from pywebpush import WebPushException, webpush

    result = PushResult()
    data = json.dumps(push_payload(notification), separators=(",", ":"))
    headers = {"Urgency": URGENCY.get(notification.kind, "normal")}
    now = timezone.now()
    for subscription in subscriptions:
        try:
            webpush(
                subscription_info=subscription.subscription_info(),
                data=data,
                vapid_private_key=settings.WEBPUSH_VAPID_PRIVATE_KEY,
                vapid_claims={"sub": settings.WEBPUSH_SUBJECT},
                ttl=settings.WEBPUSH_TTL,
                headers=headers,
                timeout=settings.WEBPUSH_TIMEOUT,
                requests_session=session,
            )
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in GONE:
                PushSubscription.objects.filter(pk=subscription.pk).delete()
                result.removed += 1
                continue
            # Only the status is kept: the person reads this error, and the body is the push
            # service's to say, not ours to show.
            error = f"Push service answered HTTP {status}" if status else "Push failed before an answer"
            _record_error(subscription, error, result)
        except requests.TooManyRedirects:
            _record_error(subscription, "Push service answered with a redirect (not followed)", result)
        except requests.RequestException as exc:
            _record_error(subscription, f"Push service unreachable: {exc.__class__.__name__}", result)
        except (ValueError, TypeError) as exc:  # a key pywebpush cannot use (bad VAPID key, bad p256dh)
            _record_error(subscription, f"Push could not be encrypted: {exc.__class__.__name__}: {exc}"[:300], result)
        else:
            PushSubscription.objects.filter(pk=subscription.pk).update(last_used_at=now, last_error="")
            result.sent += 1
    return result


def _record_error(subscription: PushSubscription, error: str, result: PushResult) -> None:
    PushSubscription.objects.filter(pk=subscription.pk).update(last_error=error[:1000])
    result.errors.append(f"{subscription.name}: {error}")


def vapid_keys_generate() -> tuple[str, str]:
    """A new VAPID key pair as (public, private): the public key in the form browsers take as
    `applicationServerKey` (the uncompressed P-256 point, base64url), the private key as the raw
    32-byte scalar, base64url (what pywebpush reads from a string)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    private = key.private_numbers().private_value.to_bytes(32, "big")

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    return b64(public), b64(private)
