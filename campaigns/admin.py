from __future__ import annotations

from django.contrib import admin

from campaigns.models import AlertRule, AlertState, Campaign, CampaignDay, MetricRevision


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "channel", "external_id", "status", "sponsor", "currency", "updated_at")
    list_filter = ("channel", "status", "sponsor")
    search_fields = ("name", "external_id")
    list_select_related = ("sponsor",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(CampaignDay)
class CampaignDayAdmin(admin.ModelAdmin):
    list_display = ("campaign", "date", "impressions", "clicks", "conversions", "cost", "revenue", "synced_at")
    list_filter = ("campaign__channel",)
    date_hierarchy = "date"
    search_fields = ("campaign__name", "campaign__external_id")
    list_select_related = ("campaign",)
    raw_id_fields = ("campaign",)
    show_full_result_count = False


@admin.register(MetricRevision)
class MetricRevisionAdmin(admin.ModelAdmin):
    list_display = ("message", "campaign", "date", "metric", "old_value", "new_value", "created_at")
    list_filter = ("metric", "campaign__channel")
    list_select_related = ("campaign",)
    raw_id_fields = ("campaign", "run")


class AlertStateInline(admin.TabularInline):
    model = AlertState
    extra = 0
    raw_id_fields = ("campaign",)
    readonly_fields = ("firing", "times_fired", "last_value", "fired_at", "recovered_at", "evaluated_at")


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "metric", "comparison", "threshold", "window_days", "channel", "owner", "is_active")
    list_filter = ("metric", "is_active", "channel")
    raw_id_fields = ("owner", "campaign", "sponsor")
    inlines = [AlertStateInline]
