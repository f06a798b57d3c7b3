from __future__ import annotations

from django.urls import path

from sponsors import views

urlpatterns = [
    path("sponsors/", views.sponsor_list, name="sponsor_list"),
    path("sponsors/new/", views.sponsor_create, name="sponsor_create"),
    path("sponsors/<int:sponsor_id>/", views.sponsor_detail, name="sponsor_detail"),
    path("sponsors/<int:sponsor_id>/edit/", views.sponsor_edit, name="sponsor_edit"),
    path("sponsors/<int:sponsor_id>/delete/", views.sponsor_delete, name="sponsor_delete"),
    path("sponsors/<int:sponsor_id>/sync/", views.sponsor_sync_now, name="sponsor_sync_now"),
]
