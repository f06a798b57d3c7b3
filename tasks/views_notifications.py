"""Dashboard pages: the notifications inbox and the notification settings form."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.actor import ORIGIN_WEB, Actor
from accounts.forms import BootstrapMixin
from accounts.models import UserPreference, available_time_zones
from accounts.preferences import preference_get, preference_update
from tasks import notifications, push
from tasks.models import Notification, PushSubscription

PAGE_SIZE = 25

KIND_ICONS = {
    Notification.Kind.DUE_SOON: "alarm",
    Notification.Kind.OVERDUE: "exclamation-octagon",
    Notification.Kind.STALE: "hourglass-bottom",
    Notification.Kind.SYNC_FAILED: "arrow-repeat",
    Notification.Kind.CAMPAIGN_ALERT: "graph-down-arrow",
    Notification.Kind.MENTION: "at",
    Notification.Kind.WEBHOOK_DISABLED: "plug",
    Notification.Kind.DIGEST: "envelope-paper",
}


def _next_url(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    ok = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return target if target and ok else default


def notification_list(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "all")
    unread = True if show == "unread" else None
    qs = notifications.notification_list(user=request.user, unread=unread)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for n in page.object_list:
        n.icon = KIND_ICONS.get(n.kind, "bell")
    context = {
        "page": page,
        "show": "unread" if unread else "all",
        "unread_count": notifications.notification_unread_count(user=request.user),
    }
    return render(request, "tasks/notifications.html", context)


@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    try:
        n = notifications.notification_get(user=request.user, notification_id=notification_id)
    except Notification.DoesNotExist:
        raise Http404("No such notification.") from None
    notifications.notification_mark_read(notification=n)
    return redirect(_next_url(request, "notification_list"))


@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = notifications.notifications_mark_all_read(user=request.user)
    if count:
        messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    else:
        messages.info(request, "Nothing was unread.")
    return redirect(_next_url(request, "notification_list"))


# --- settings --------------------------------------------------------------------------------


class PreferenceForm(BootstrapMixin, forms.Form):
    time_zone = forms.ChoiceField(label="Time zone", help_text="Quiet hours and reminder times use it.")
    quiet_start = forms.TimeField(
        label="Quiet hours start",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Nothing is delivered during quiet hours; it waits until they end.",
    )
    quiet_end = forms.TimeField(
        label="Quiet hours end",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="May be past midnight, e.g. 22:00 to 07:00. Leave both empty for none.",
    )
    reminder_lead_hours = forms.DecimalField(
        label="Remind me before a due time (hours)",
        min_value=Decimal("0.1"),
        max_value=Decimal(720),
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.25"}),
    )
    stale_after_days = forms.DecimalField(
        label="Call a task stale after (days without an update)",
        min_value=Decimal("0.05"),
        max_value=Decimal(365),
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.5"}),
    )
    notify_in_app = forms.BooleanField(label="In the app (the bell)", required=False)
    notify_email = forms.BooleanField(label="By email", required=False)
    notify_webhook = forms.BooleanField(label="On a webhook", required=False)
    notify_push = forms.BooleanField(
        label="Push notifications to my devices",
        required=False,
        help_text="To the browsers and phones listed below, once push is enabled on them.",
    )
    webhook_url = forms.URLField(
        label="Webhook URL", required=False, max_length=500, assume_scheme="https", help_text="Receives signed JSON."
    )
    regenerate_secret = forms.BooleanField(label="Generate a new signing secret", required=False)
    digest = forms.BooleanField(
        label="One daily digest instead of single emails and webhook calls",
        required=False,
        help_text="In-app notifications still appear as they happen.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(z, z.replace("_", " ")) for z in sorted(available_time_zones())]
        self._style_widgets()

    @classmethod
    def initial_for(cls, pref: UserPreference) -> dict[str, Any]:
        return {
            "time_zone": pref.time_zone,
            "quiet_start": pref.quiet_start,
            "quiet_end": pref.quiet_end,
            "reminder_lead_hours": _round(Decimal(pref.reminder_lead.total_seconds()) / 3600),
            "stale_after_days": _round(Decimal(pref.stale_after.total_seconds()) / 86400),
            "notify_in_app": pref.notify_in_app,
            "notify_email": pref.notify_email,
            "notify_webhook": pref.notify_webhook,
            "notify_push": pref.notify_push,
            "webhook_url": pref.webhook_url,
            "digest": pref.digest,
        }

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {
            "time_zone": data["time_zone"],
            "quiet_start": data["quiet_start"],
            "quiet_end": data["quiet_end"],
            "reminder_lead": dt.timedelta(seconds=int(data["reminder_lead_hours"] * 3600)),
            "stale_after": dt.timedelta(seconds=int(data["stale_after_days"] * 86400)),
            "notify_in_app": data["notify_in_app"],
            "notify_email": data["notify_email"],
            "notify_webhook": data["notify_webhook"],
            "notify_push": data["notify_push"],
            "webhook_url": data["webhook_url"] or "",
            "digest": data["digest"],
        }
        if data["regenerate_secret"] or not data["webhook_url"]:
            values["webhook_secret"] = ""  # regenerated by the service while a URL is set
        return values


def _round(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01")).normalize()


# Service field -> form field, to show the service's errors next to the right input.
_FORM_FIELDS = {"reminder_lead": "reminder_lead_hours", "stale_after": "stale_after_days", "webhook_secret": None}


def notification_preferences(request: HttpRequest) -> HttpResponse:
    pref = preference_get(request.user)
    if request.method == "POST":
        form = PreferenceForm(request.POST)
        if form.is_valid():
            try:
                preference_update(
                    user=request.user,
                    actor=Actor.from_request(request, origin=ORIGIN_WEB),
                    **form.service_values(),
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]:
                    target = _FORM_FIELDS.get(field, field) if field in form.fields or field in _FORM_FIELDS else None
                    for error in errors:
                        form.add_error(target, error)
                form._style_widgets()
            else:
                messages.success(request, "Notification settings saved.")
                return redirect("notification_preferences")
        status = 400
    else:
        form = PreferenceForm(initial=PreferenceForm.initial_for(pref))
        status = 200
    context = {
        "form": form,
        "pref": pref,
        "push_enabled": push.push_configured(),
        "vapid_public_key": push.vapid_public_key(),
        "devices": list(push.push_subscriptions_of(user=request.user)),
    }
    response = render(request, "tasks/notification_preferences.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the page shows the webhook signing secret
    return response


@require_POST
def push_subscription_remove(request: HttpRequest, subscription_id: int) -> HttpResponse:
    """The "Remove" button next to a device on the settings page."""
    try:
        push.push_subscription_delete(
            user=request.user, subscription_id=subscription_id, actor=Actor.from_request(request, origin=ORIGIN_WEB)
        )
    except PushSubscription.DoesNotExist:
        raise Http404("No such device.") from None
    messages.success(request, "That device will get no more push notifications.")
    return redirect("notification_preferences")


def service_worker(request: HttpRequest) -> HttpResponse:
    """/service-worker.js: served from the root so that it may control every page."""
    body = render_to_string("tasks/push/service-worker.js", {"icon_url": static("img/icon-192.png")})
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"  # browsers then pick up a new version at once
    response["Service-Worker-Allowed"] = "/"
    return response


def web_manifest(request: HttpRequest) -> HttpResponse:
    """/manifest.webmanifest: lets people install Tracker as an app (on iOS, needed for push)."""
    manifest = {
        "name": "Tracker",
        "short_name": "Tracker",
        "description": "Sponsors' tasks, leads and campaigns in one place.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#4f46e5",
        "icons": [
            {"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("img/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": static("img/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    return JsonResponse(manifest, content_type="application/manifest+json")
