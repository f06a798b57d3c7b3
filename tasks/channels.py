"""Delivery channels: email (Django's email backend) and a signed JSON webhook (httpx).

In-app delivery needs no sending: a notification shows in the app once its `in_app_state` is
"sent". Each function here sends one message and raises `ChannelError` when it could not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import UserPreference
from tasks.models import Notification

SIGNATURE_HEADER = "X-Tracker-Signature"
EVENT_HEADER = "X-Tracker-Event"
DELIVERY_HEADER = "X-Tracker-Delivery"
USER_AGENT = "Tracker-Webhook/1"
# Only this much of a receiver's error reply is kept for the user to read.
ERROR_SNIPPET = 200


class ChannelError(Exception):
    """A message could not be delivered on one channel; the caller decides when to retry."""


def site_url() -> str:
    return str(getattr(settings, "SITE_URL", "http://127.0.0.1:8000")).rstrip("/")


def absolute_url(path: str) -> str:
    if not path:
        return site_url() + "/"
    if path.startswith(("http://", "https://")):
        return path
    return site_url() + (path if path.startswith("/") else "/" + path)


def task_path(task_id: Any) -> str:
    try:
        return reverse("task_detail", args=[task_id])
    except NoReverseMatch:
        return f"/tasks/{task_id}/"


def notification_link(notification: Notification) -> str:
    """Absolute URL of the page the notification is about (its task, or its own link)."""
    if notification.url:
        return absolute_url(notification.url)
    if notification.task_id is not None:
        return absolute_url(task_path(notification.task_id))
    try:
        return absolute_url(reverse("notification_list"))
    except NoReverseMatch:
        return absolute_url("/notifications/")


# --- webhook ---------------------------------------------------------------------------------


def webhook_signature(*, secret: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact request body with the user's secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_body(notification: Notification) -> bytes:
    """The JSON a receiver gets: what happened, to which task, and a link to it."""
    task = notification.task
    data: dict[str, Any] = {
        "id": notification.pk,
        "kind": notification.kind,
        "message": notification.message,
        "created_at": notification.created_at.isoformat(),
        "recipient": notification.recipient.get_username(),
        "url": notification_link(notification),
        "task": None,
        "object": {"type": notification.object_type, "id": notification.object_id}
        if notification.object_type
        else None,
        "data": notification.payload,
    }
    if task is not None:
        data["task"] = {
            "id": str(task.pk),
            "title": task.title,
            "status": task.status,
            "priority": task.priority,
            "due_at": task.due_at.isoformat() if task.due_at else None,
            "url": absolute_url(task_path(task.pk)),
        }
    return json.dumps(data, separators=(",", ":"), sort_keys=True, default=str).encode("utf-8")


def webhook_client() -> httpx.Client:
    timeout = float(getattr(settings, "WEBHOOK_TIMEOUT", 5))
    return httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT})


def webhook_post(*, notification: Notification, pref: UserPreference, client: httpx.Client) -> None:
    """POST the signed notification to the user's webhook; raises ChannelError unless it answers 2xx."""
    body = webhook_body(notification)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: webhook_signature(secret=pref.webhook_secret, body=body),
        EVENT_HEADER: notification.kind,
        DELIVERY_HEADER: str(notification.pk),
    }
    try:
        response = client.post(pref.webhook_url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise ChannelError(f"Webhook timed out: {exc.__class__.__name__}") from exc
    except httpx.HTTPError as exc:
        raise ChannelError(f"Webhook unreachable: {exc.__class__.__name__}: {exc}"[:300]) from exc
    if not 200 <= response.status_code < 300:
        snippet = response.text[:ERROR_SNIPPET].strip()
        raise ChannelError(f"Webhook answered HTTP {response.status_code}" + (f": {snippet}" if snippet else ""))


# --- email -----------------------------------------------------------------------------------


def _one_line(text: str, limit: int = 150) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def email_message(
    *, notification: Notification, pref: UserPreference | None = None, connection: BaseEmailBackend | None = None
) -> EmailMultiAlternatives:
    """The email for one notification (or a digest): plain text plus HTML, linking to the task.

    Times are shown in the recipient's time zone.
    """
    link = notification_link(notification)
    is_digest = notification.kind == Notification.Kind.DIGEST
    context = {
        "notification": notification,
        "task": notification.task,
        "link": link,
        "items": notification.payload.get("items", []) if is_digest else [],
        "site_url": site_url(),
        "settings_link": absolute_url("/settings/notifications/"),
        "zone_name": pref.time_zone if pref is not None else "UTC",
    }
    name = "digest" if is_digest else "notification"
    if is_digest:
        subject = f"[Tracker] Your daily digest: {len(context['items'])} update(s)"
    else:
        subject = f"[Tracker] {notification.get_kind_display()}: {_one_line(notification.message, 120)}"
    with timezone.override(pref.zone if pref is not None else dt.UTC):
        text = render_to_string(f"tasks/email/{name}.txt", context)
        html = render_to_string(f"tasks/email/{name}.html", context)
    message = EmailMultiAlternatives(
        subject=_one_line(subject, 180), body=text, to=[notification.recipient.email], connection=connection
    )
    message.attach_alternative(html, "text/html")
    return message


def email_send(
    *, notification: Notification, pref: UserPreference | None = None, connection: BaseEmailBackend | None = None
) -> None:
    """Send the notification's email; raises ChannelError when the backend fails."""
    if not notification.recipient.email:
        raise ChannelError("The recipient has no email address.")
    try:
        sent = email_message(notification=notification, pref=pref, connection=connection).send()
    except Exception as exc:  # SMTP and other backends raise many unrelated types
        raise ChannelError(f"Email failed: {exc.__class__.__name__}: {exc}"[:300]) from exc
    if sent != 1:
        raise ChannelError("The email backend did not accept the message.")
