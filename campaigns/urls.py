from __future__ import annotations

from django.urls import path

from campaigns import views

urlpatterns = [
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/export.csv", views.campaign_export, name="campaign_export"),
    path("campaigns/sync/", views.campaign_sync_now, name="campaign_sync_now"),
    path("campaigns/alerts/", views.alert_rules, name="campaign_alerts"),
    path("campaigns/alerts/<int:rule_id>/delete/", views.alert_rule_delete, name="campaign_alert_delete"),
    path("campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:campaign_id>/sponsor/", views.campaign_set_sponsor, name="campaign_set_sponsor"),
]
