"""Dashboard pages for sponsors: list, create, edit, delete (with confirmation), the sponsor's
360° page and its "pull now" button. Thin: a form or selector in, one service call, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.actor import ORIGIN_WEB, Actor
from integrations.models import SyncRun
from integrations.selectors import sync_run_list
from sponsors import selectors, services
from sponsors.forms import SponsorForm
from sponsors.models import PULL_SOURCES, Sponsor
from tasks.models import Task

LIST_PAGE_SIZE = 50
DETAIL_TASKS = 50
DETAIL_RUNS = 10


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, origin=ORIGIN_WEB)


def _get_or_404(sponsor_id: int) -> Sponsor:
    try:
        return selectors.sponsor_get(sponsor_id=sponsor_id)
    except Sponsor.DoesNotExist:
        raise Http404("No such sponsor.") from None


def sponsor_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    page = Paginator(selectors.sponsor_list(q=q or None), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "sponsors/sponsor_list.html", {"page": page, "sponsors": page.object_list, "q": q})


def _save(request: HttpRequest, form: SponsorForm, sponsor: Sponsor | None) -> Sponsor | None:
    try:
        if sponsor is None:
            return services.sponsor_create(actor=_actor(request), **form.service_values())
        return services.sponsor_update(sponsor=sponsor, actor=_actor(request), **form.service_values())
    except services.SponsorNameTaken as exc:
        form.add_error("name", str(exc))
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc.messages)
    return None


@require_http_methods(["GET", "POST"])
def sponsor_create(request: HttpRequest) -> HttpResponse:
    form = SponsorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        sponsor = _save(request, form, None)
        if sponsor is not None:
            messages.success(request, f"Sponsor “{sponsor.name}” added. Its tasks appear after the next pull.")
            return redirect("sponsor_detail", sponsor_id=sponsor.pk)
    return render(request, "sponsors/sponsor_form.html", {"form": form, "sponsor": None})


@require_http_methods(["GET", "POST"])
def sponsor_edit(request: HttpRequest, sponsor_id: int) -> HttpResponse:
    sponsor = _get_or_404(sponsor_id)
    form = SponsorForm(request.POST or None, instance=Sponsor.objects.get(pk=sponsor.pk))
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, sponsor)
        if saved is not None:
            messages.success(request, f"Sponsor “{saved.name}” saved.")
            return redirect("sponsor_detail", sponsor_id=saved.pk)
    return render(request, "sponsors/sponsor_form.html", {"form": form, "sponsor": sponsor})


@require_http_methods(["GET", "POST"])
def sponsor_delete(request: HttpRequest, sponsor_id: int) -> HttpResponse:
    sponsor = _get_or_404(sponsor_id)
    if request.method == "POST":
        result = services.sponsor_delete(sponsor=sponsor, actor=_actor(request))
        messages.success(
            request,
            f"Sponsor “{sponsor.name}” deleted with {result['pulled_deleted']} pulled task(s); "
            f"{result['unlinked']} other task(s) kept without a sponsor.",
        )
        return redirect("sponsor_list")
    pulled = Task.objects.filter(sponsor=sponsor, source__in=PULL_SOURCES).count()
    kept = Task.objects.filter(sponsor=sponsor).exclude(source__in=PULL_SOURCES).count()
    return render(request, "sponsors/sponsor_confirm_delete.html", {"sponsor": sponsor, "pulled": pulled, "kept": kept})


def sponsor_detail(request: HttpRequest, sponsor_id: int) -> HttpResponse:
    sponsor = _get_or_404(sponsor_id)
    overview = selectors.sponsor_overview(sponsor=sponsor)
    running = list(sync_run_list(sponsor_id=sponsor.pk, status=SyncRun.Status.RUNNING))
    context = {"sponsor": sponsor, "overview": overview, "running": running}
    if request.GET.get("partial") == "sync":
        return render(request, "sponsors/_sync_cards.html", context)
    labels = dict(Task.Source.choices)
    source = request.GET.get("source", "")
    source = source if source in labels else ""
    tasks = selectors.sponsor_tasks(sponsor=sponsor, source=source or None)
    context.update(
        {
            "tasks": list(tasks[:DETAIL_TASKS]),
            "task_total": tasks.count(),
            "source_filter": source,
            "source_filter_label": labels.get(source, ""),
            "source_rows": [(key, labels.get(key, key), counts) for key, counts in overview.counts.items()],
            "runs": list(sync_run_list(sponsor_id=sponsor.pk)[:DETAIL_RUNS]),
        }
    )
    return render(request, "sponsors/sponsor_detail.html", context)


@require_POST
def sponsor_sync_now(request: HttpRequest, sponsor_id: int) -> HttpResponse:
    sponsor = _get_or_404(sponsor_id)
    source = request.POST.get("source") or None
    try:
        runs = services.sponsor_sync_request(
            sponsor=sponsor,
            actor=_actor(request),
            trigger=SyncRun.Trigger.MANUAL,
            sources=[source] if source in PULL_SOURCES else None,
        )
    except services.SponsorNotMapped:
        messages.error(request, "Map the sponsor to Salesforce, Asana or Google Calendar first (Edit).")
    else:
        messages.success(
            request, f"Pull queued ({len(runs)} platform{'s' if len(runs) != 1 else ''}); progress shows below."
        )
    return redirect(reverse("sponsor_detail", kwargs={"sponsor_id": sponsor.pk}) + "#sync")
