"""Dashboard pages for leads: the list (with the sheet's health and its bad rows), a lead's
page (edit it; its conflicts), the conflict inbox (one click keeps a side), the sync preview
(the dry run) and "sync now". Thin: read a selector or call one service, then render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.actor import ORIGIN_WEB, Actor
from integrations.connectors.base import ConnectorError
from integrations.connectors.google_sheets import GoogleSheetsConnector
from integrations.models import SyncRun
from leads import selectors, services
from leads.api import pending_fields
from leads.models import SYNCED_FIELDS, Lead, LeadConflict
from leads.sheet_rows import SheetLayoutError

PAGE_SIZE = 50
BAD_ROWS_SHOWN = 20


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, origin=ORIGIN_WEB)


def _sheet_context() -> dict[str, object]:
    last = selectors.last_finished_run()
    running = SyncRun.objects.running().filter(connector=selectors.CONNECTOR).first()
    return {
        "live": GoogleSheetsConnector.is_configured(),
        "last_run": last,
        "running_run": running,
        "bad_rows": list(selectors.bad_rows(run=last)[:BAD_ROWS_SHOWN]),
        "open_conflicts": LeadConflict.objects.open().count(),
    }


def lead_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    status = status if status in Lead.Status.values else ""
    qs = selectors.lead_list(status=status or None, q=q or None)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "leads": page.object_list,
        "q": q,
        "status": status,
        "statuses": Lead.Status.choices,
        "counts": selectors.lead_status_counts(),
        **_sheet_context(),
    }
    return render(request, "leads/lead_list.html", context)


def _get_or_404(lead_id: int) -> Lead:
    try:
        return selectors.lead_get(lead_id=lead_id)
    except Lead.DoesNotExist:
        raise Http404("No such lead.") from None


def lead_detail(request: HttpRequest, lead_id: int, errors: dict[str, list[str]] | None = None) -> HttpResponse:
    lead = _get_or_404(lead_id)
    context = {
        "lead": lead,
        "statuses": Lead.Status.choices,
        "conflicts": list(selectors.lead_conflicts(lead=lead)),
        "past_conflicts": list(
            selectors.lead_conflicts(lead=lead, open_only=False).filter(resolved_at__isnull=False)[:10]
        ),
        "pending": pending_fields(lead),
        "errors": errors or {},
        "form_errors": (errors or {}).get("__all__", []),
        "values": request.POST if errors else None,
    }
    return render(request, "leads/lead_detail.html", context, status=422 if errors else 200)


@require_POST
def lead_edit(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = _get_or_404(lead_id)
    values = {f: request.POST.get(f, "") for f in SYNCED_FIELDS if f in request.POST}
    try:
        services.lead_update(lead=lead, actor=_actor(request), **values)
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        return lead_detail(request, lead_id, errors=errors)
    messages.success(request, "Lead saved. The sheet gets the change on the next sync.")
    return redirect("lead_detail", lead_id=lead.pk)


def lead_conflicts(request: HttpRequest) -> HttpResponse:
    conflicts = selectors.lead_conflicts().select_related("lead__task")
    page = Paginator(conflicts, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "leads/lead_conflicts.html", {"page": page, "conflicts": page.object_list})


@require_POST
def lead_conflict_resolve(request: HttpRequest, conflict_id: int) -> HttpResponse:
    try:
        conflict = selectors.conflict_get(conflict_id=conflict_id)
    except LeadConflict.DoesNotExist:
        raise Http404("No such conflict.") from None
    side = request.POST.get("side", "")
    try:
        services.lead_conflict_resolve(conflict=conflict, side=side, actor=_actor(request))
    except services.ConflictAlreadyResolved:
        messages.info(request, "That conflict was already settled.")
    except ValidationError:
        messages.error(request, "Pick the sheet's value or Tracker's.")
    else:
        kept = conflict.sheet_value if side == "sheet" else conflict.tracker_value
        messages.success(
            request,
            f"{conflict.lead.sheet_id}: kept {kept or '(empty)'} for {conflict.field}. "
            "The sheet follows on the next sync.",
        )
    target = request.POST.get("next", "")
    if target == "lead":
        return redirect("lead_detail", lead_id=conflict.lead_id)
    return redirect("lead_conflicts")


def lead_preview(request: HttpRequest) -> HttpResponse:
    initial = request.GET.get("initial") == "1"
    plan, error = None, ""
    try:
        plan = services.lead_sheet_preview(initial=initial)
    except (ConnectorError, SheetLayoutError) as exc:
        error = str(exc)
    context = {
        "plan": plan,
        "items": [i for i in plan.items] if plan else [],
        "summary": plan.summary() if plan else {},
        "error": error,
        "initial": initial,
        "live": GoogleSheetsConnector.is_configured(),
    }
    return render(request, "leads/lead_preview.html", context)


@require_POST
def lead_run_now(request: HttpRequest) -> HttpResponse:
    initial = request.POST.get("initial") == "1"
    run = services.lead_sync_request(actor=_actor(request), trigger=SyncRun.Trigger.MANUAL, initial=initial)
    run.refresh_from_db()
    if run.is_running:
        messages.success(request, f"Sync #{run.pk} queued; this page shows its result once it is done.")
    else:
        messages.success(request, f"Sync #{run.pk}: {run.get_status_display().lower()}.")
    return redirect(reverse("lead_list"))
