"""Dashboard pages for the account (profile, API keys, security) and the staff audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors
from accounts.actor import ORIGIN_WEB, Actor
from accounts.forms import ApiKeyCreateForm, AuditFilterForm
from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke

AUDIT_PAGE_SIZE = 50


def _settings_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "api_keys": list(selectors.api_key_list(user=request.user)),
        "key_form": ApiKeyCreateForm(),
        "mfa": selectors.mfa_summary(user=request.user),
        **extra,
    }


def account_settings(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/settings.html", _settings_context(request))


def api_key_create_view(request: HttpRequest) -> HttpResponse:
    """Create a key and show it in this response only: it is never stored or shown again."""
    if request.method != "POST":
        return redirect("account_settings")
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/settings.html", _settings_context(request, key_form=form), status=400)
    key, raw = api_key_create(
        user=request.user, name=form.cleaned_data["name"], actor=Actor.from_request(request, origin=ORIGIN_WEB)
    )
    response = render(request, "accounts/settings.html", _settings_context(request, new_key=key, new_key_raw=raw))
    # The page holds a secret: keep it out of every cache, including the back/forward cache.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    # Scoped to the signed-in user: another user's key is a 404, the same as a missing one.
    key = get_object_or_404(ApiKey, pk=key_id, user=request.user)
    already = key.revoked_at is not None
    api_key_revoke(api_key=key, actor=Actor.from_request(request, origin=ORIGIN_WEB))
    if already:
        messages.info(request, f"The key “{key.name}” was already revoked.")
    else:
        messages.success(request, f"Revoked the key “{key.name}”. Requests using it now get 401.")
    return redirect("account_settings")


def audit_log(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        return render(request, "accounts/forbidden.html", {"what": "the audit log"}, status=403)
    params = request.GET.copy()
    params.pop("page", None)
    form = AuditFilterForm(
        params or None,
        actions=selectors.audit_action_choices(),
        object_types=selectors.audit_object_type_choices(),
    )
    if form.is_bound:
        form.is_valid()
    events = selectors.audit_event_list(**form.filter_kwargs())
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/audit_log.html",
        {"form": form, "page": page, "events": page.object_list, "is_filtered": any(form.filter_kwargs().values())},
    )
