from __future__ import annotations

from django.urls import path

from leads import views

urlpatterns = [
    path("leads/", views.lead_list, name="lead_list"),
    path("leads/conflicts/", views.lead_conflicts, name="lead_conflicts"),
    path("leads/conflicts/<int:conflict_id>/resolve/", views.lead_conflict_resolve, name="lead_conflict_resolve"),
    path("leads/preview/", views.lead_preview, name="lead_preview"),
    path("leads/run/", views.lead_run_now, name="lead_run_now"),
    path("leads/<int:lead_id>/", views.lead_detail, name="lead_detail"),
    path("leads/<int:lead_id>/edit/", views.lead_edit, name="lead_edit"),
]
