"""Dashboard pages for campaigns: the analytics page (KPI cards, charts, sortable table, insights),
CSV export, a campaign's page, alert rules and "sync now". Thin: parse the filters kept in the
URL, call selectors or one service, render."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from functools import cached_property
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.actor import ORIGIN_WEB, Actor
from campaigns import selectors, services
from campaigns.insights import campaign_insights
from campaigns.models import AlertRule, AlertState, Campaign, Channel
from integrations.connectors.metrics import METRICS_CONNECTORS, get_metrics_connector_class
from integrations.models import SyncRun
from sponsors.models import Sponsor

PAGE_SIZE = 25
CHANNEL_LABELS = dict(Channel.choices)
KPIS = (
    ("cost", "Spend", "money"),
    ("revenue", "Revenue", "money"),
    ("roi", "ROI", "percent"),
    ("conversions", "Conversions", "number"),
    ("clicks", "Clicks", "number"),
    ("ctr", "CTR", "percent"),
    ("cpc", "CPC", "money"),
    ("conversion_rate", "Conversion rate", "percent"),
)
COLUMNS = (
    ("name", "Campaign"),
    ("channel", "Channel"),
    ("cost", "Spend"),
    ("revenue", "Revenue"),
    ("roi", "ROI"),
    ("impressions", "Impressions"),
    ("clicks", "Clicks"),
    ("ctr", "CTR"),
    ("cpc", "CPC"),
    ("conversions", "Conv."),
    ("conversion_rate", "Conv. rate"),
)


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, origin=ORIGIN_WEB)


class Filters:
    """The page's filters, read from the query string (bad values fall back to defaults and
    say so), written back into every link so the URL always reproduces the view."""

    def __init__(self, request: HttpRequest) -> None:
        self.errors: list[str] = []
        self.today = timezone.localdate()
        self.quick = {str(n): self.today - dt.timedelta(days=n - 1) for n in (7, 30, 90)}
        get = request.GET
        self.channel = get.get("channel", "") if get.get("channel", "") in CHANNEL_LABELS else ""
        if get.get("channel") and not self.channel:
            self.errors.append("Unknown channel; showing every channel.")
        sponsor = get.get("sponsor", "")
        self.sponsor_id = int(sponsor) if sponsor.isdigit() and 0 < int(sponsor) < 2**63 else None
        self.q = get.get("q", "").strip()[:200].replace("\x00", "")
        order = get.get("order", "-cost")
        self.order = order if order.lstrip("-") in selectors.ORDER_KEYS else "-cost"
        date_from, date_to = self._date(get, "date_from"), self._date(get, "date_to")
        try:
            self.date_from, self.date_to = selectors.resolve_range(date_from, date_to)
        except selectors.BadRange as exc:
            self.errors.append(f"{exc} Showing the last {selectors.DEFAULT_DAYS} days.")
            self.date_from, self.date_to = selectors.resolve_range(None, None)

    def _date(self, get: Any, name: str) -> dt.date | None:
        value = get.get(name, "")
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.errors.append(f"{name.replace('_', ' ')} {value[:20]!r} is not a date (YYYY-MM-DD).")
            return None

    @property
    def selector_filters(self) -> dict[str, Any]:
        return {"channel": self.channel or None, "sponsor_id": self.sponsor_id}


class CountedPaginator(Paginator):
    """A paginator told the count (the campaign count is a cheap query of its own; counting the
    aggregated list would compute every total)."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        return self._known_count


def _kpis(current: selectors.Totals, previous: selectors.Totals) -> list[dict[str, Any]]:
    cards = []
    for key, label, kind in KPIS:
        now, before = getattr(current, key), getattr(previous, key)
        change = None
        if now is not None and before not in (None, 0):
            change = (Decimal(now) - Decimal(before)) / abs(Decimal(before))
        cards.append({"key": key, "label": label, "kind": kind, "value": now, "previous": before, "change": change})
    return cards


def _chart_data(daily: list[dict[str, Any]], summary: selectors.Summary, filters: Filters) -> dict[str, Any]:
    days = [filters.date_from + dt.timedelta(days=n) for n in range((filters.date_to - filters.date_from).days + 1)]
    index = {day: n for n, day in enumerate(days)}
    channels = [key for key, _ in summary.channels]
    spend = {key: [0.0] * len(days) for key in channels}
    roi: dict[str, list[float | None]] = {key: [None] * len(days) for key in channels}
    for row in daily:
        if row["channel"] in spend:
            spend[row["channel"]][index[row["date"]]] = float(row["cost"])
            roi[row["channel"]][index[row["date"]]] = None if row["roi"] is None else float(row["roi"])
    return {
        "labels": [d.isoformat() for d in days],
        "series": [
            {"channel": key, "label": CHANNEL_LABELS[key], "spend": spend[key], "roi": roi[key]} for key in channels
        ],
        "comparison": [
            {
                "channel": key,
                "label": CHANNEL_LABELS[key],
                "cost": float(t.cost),
                "revenue": float(t.revenue),
                "roi": None if t.roi is None else float(t.roi),
            }
            for key, t in summary.channels
        ],
    }


def _connectors() -> list[dict[str, Any]]:
    out = []
    for key in METRICS_CONNECTORS:
        cls = get_metrics_connector_class(key)
        out.append({"key": key, "label": cls.label, "live": cls.is_configured(), "channels": cls.channels})
    return out


def campaign_list(request: HttpRequest) -> HttpResponse:
    filters = Filters(request)
    for error in filters.errors:
        messages.warning(request, error)
    summary = selectors.channel_summary(
        date_from=filters.date_from, date_to=filters.date_to, **filters.selector_filters
    )
    prev_from, prev_to = selectors.previous_period(filters.date_from, filters.date_to)
    previous = selectors.channel_summary(date_from=prev_from, date_to=prev_to, **filters.selector_filters)
    qs = selectors.campaign_list(
        date_from=filters.date_from, date_to=filters.date_to, q=filters.q or None, order=filters.order,
        **filters.selector_filters,
    )  # fmt: skip
    count = selectors.campaign_count(q=filters.q or None, **filters.selector_filters)
    page = CountedPaginator(qs, PAGE_SIZE, count=count).get_page(request.GET.get("page"))
    daily = selectors.channel_daily(date_from=filters.date_from, date_to=filters.date_to, **filters.selector_filters)
    runs = _last_runs()
    context = {
        "filters": filters,
        "summary": summary,
        "previous": previous,
        "prev_from": prev_from,
        "prev_to": prev_to,
        "kpis": _kpis(summary.total, previous.total),
        "page": page,
        "campaigns": page.object_list,
        "columns": COLUMNS,
        "chart_data": _chart_data(daily, summary, filters),
        "insights": campaign_insights(date_from=filters.date_from, date_to=filters.date_to, **filters.selector_filters),
        "channels": Channel.choices,
        "sponsors": Sponsor.objects.order_by("name").values_list("pk", "name"),
        "connectors": [{**c, "last_run": runs.get(c["key"])} for c in _connectors()],
    }
    return render(request, "campaigns/campaign_list.html", context)


def _last_runs() -> dict[str, SyncRun]:
    runs: dict[str, SyncRun] = {}
    for run in SyncRun.objects.filter(connector__in=list(METRICS_CONNECTORS)).order_by("-started_at")[:50]:
        runs.setdefault(run.connector, run)
    return runs


class Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value: Any) -> Any:
    # A cell starting with = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def campaign_export(request: HttpRequest) -> StreamingHttpResponse:
    """Every campaign of the filtered view, with its totals and rates, as CSV."""
    filters = Filters(request)
    qs = selectors.campaign_list(
        date_from=filters.date_from, date_to=filters.date_to, q=filters.q or None, order=filters.order,
        **filters.selector_filters,
    )  # fmt: skip
    writer = csv.writer(Echo())
    header = ["id", "channel", "external_id", "name", "sponsor", "currency", *selectors.SUM_FIELDS]
    header += [*selectors.RATE_FIELDS, "date_from", "date_to"]

    def rows() -> Any:
        yield writer.writerow(header)
        for campaign in qs.iterator(chunk_size=500):
            totals = selectors.Totals.from_row(campaign)
            yield writer.writerow(
                [
                    _csv_cell(v)
                    for v in (
                        campaign.pk,
                        campaign.channel,
                        campaign.external_id,
                        campaign.name,
                        campaign.sponsor_name or "",
                        campaign.currency,
                        *(getattr(totals, f) for f in selectors.SUM_FIELDS),
                        *(getattr(totals, f) for f in selectors.RATE_FIELDS),
                        filters.date_from,
                        filters.date_to,
                    )
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    name = f"campaigns_{filters.date_from}_{filters.date_to}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    filters = Filters(request)
    for error in filters.errors:
        messages.warning(request, error)
    try:
        campaign = selectors.campaign_get(campaign_id=campaign_id, date_from=filters.date_from, date_to=filters.date_to)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign.") from None
    daily = selectors.campaign_daily(campaign=campaign, date_from=filters.date_from, date_to=filters.date_to)
    totals = selectors.Totals.from_row(campaign)
    prev_from, prev_to = selectors.previous_period(filters.date_from, filters.date_to)
    try:
        previous = selectors.Totals.from_row(
            selectors.campaign_get(campaign_id=campaign_id, date_from=prev_from, date_to=prev_to)
        )
    except Campaign.DoesNotExist:  # pragma: no cover  (deleted in between)
        raise Http404("No such campaign.") from None
    chart = {
        "labels": [d["date"].isoformat() for d in daily],
        "cost": [float(d["cost"]) for d in daily],
        "revenue": [float(d["revenue"]) for d in daily],
        "conversions": [float(d["conversions"]) for d in daily],
        "clicks": [d["clicks"] for d in daily],
    }
    context = {
        "campaign": campaign,
        "filters": filters,
        "totals": totals,
        "kpis": _kpis(totals, previous),
        "daily": daily,
        "chart_data": chart,
        "revisions": selectors.campaign_revisions(campaign=campaign),
        "alert_states": AlertState.objects.filter(campaign=campaign).select_related("rule").order_by("rule__name"),
        "sponsors": Sponsor.objects.order_by("name").values_list("pk", "name"),
    }
    return render(request, "campaigns/campaign_detail.html", context)


@require_POST
def campaign_set_sponsor(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404("No such campaign.")
    raw = request.POST.get("sponsor", "")
    sponsor_id = int(raw) if raw.isdigit() and 0 < int(raw) < 2**63 else None
    try:
        services.campaign_set_sponsor(campaign=campaign, sponsor_id=sponsor_id, actor=_actor(request))
        messages.success(request, "Sponsor saved.")
    except ValidationError:
        messages.error(request, "That sponsor no longer exists.")
    return redirect("campaign_detail", campaign_id=campaign.pk)


@require_POST
def campaign_sync_now(request: HttpRequest) -> HttpResponse:
    channel = request.POST.get("channel", "")
    channels = [channel] if channel in CHANNEL_LABELS else None
    runs = services.campaign_sync_request(actor=_actor(request), trigger=SyncRun.Trigger.MANUAL, channels=channels)
    messages.success(
        request, f"Sync queued ({len(runs)} platform{'s' if len(runs) != 1 else ''}); the numbers refresh shortly."
    )
    return redirect(request.POST.get("next") if _safe_next(request) else reverse("campaign_list"))


def _safe_next(request: HttpRequest) -> bool:
    target = request.POST.get("next", "")
    return target.startswith("/campaigns/") and "//" not in target and "\\" not in target


# --- alert rules --------------------------------------------------------------------------------
class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = ("name", "metric", "comparison", "threshold", "window_days", "channel", "sponsor", "campaign")
        widgets = {"threshold": forms.NumberInput(attrs={"step": "any"})}
        help_texts = {
            "threshold": (
                "Rates as fractions: ROI below 0 is 0; a CTR of 1 % is 0.01. Money in the campaign's currency."
            ),
        }

    create_task = forms.BooleanField(required=False, label="Also create a task for me when it fires")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].required = False
        self.fields["campaign"].queryset = Campaign.objects.order_by("name")
        for field in self.fields.values():
            css = "form-check-input" if isinstance(field.widget, forms.CheckboxInput) else "form-select"
            if isinstance(field.widget, forms.TextInput | forms.NumberInput):
                css = "form-control"
            field.widget.attrs.setdefault("class", css)


@require_http_methods(["GET", "POST"])
def alert_rules(request: HttpRequest) -> HttpResponse:
    form = AlertRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in AlertRuleForm.Meta.fields}
        values["create_task"] = form.cleaned_data["create_task"]
        try:
            rule = services.alert_rule_create(actor=_actor(request), owner=request.user, **values)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]:
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Alert “{rule.name}” created: it is checked after every sync.")
            return redirect("campaign_alerts")
    rules, firing = selectors.alert_rules()
    rows = [(rule, firing.get(rule.pk, [])) for rule in rules]
    return render(request, "campaigns/alert_rules.html", {"form": form, "rows": rows})


@require_POST
def alert_rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = AlertRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such alert rule.")
    if rule.owner_id != request.user.pk and not request.user.is_staff:
        messages.error(request, "Only the rule's owner can delete it.")
        return redirect("campaign_alerts")
    services.alert_rule_delete(rule=rule, actor=_actor(request))
    messages.success(request, f"Alert “{rule.name}” deleted.")
    return redirect("campaign_alerts")
