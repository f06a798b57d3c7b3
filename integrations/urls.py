from __future__ import annotations

from django.urls import path

from integrations import connection_views, views

urlpatterns = [
    path("sync/", views.sync_center, name="sync_center"),
    path("sync/live/", views.sync_center_live, name="sync_center_live"),
    path("sync/runs/<int:run_id>/", views.sync_run_detail, name="sync_run_detail"),
    path("sync/scheduler/pause/", views.scheduler_pause, name="sync_scheduler_pause"),
    path("sync/scheduler/resume/", views.scheduler_resume, name="sync_scheduler_resume"),
    path("sync/scheduler/run-now/", views.scheduler_run_now, name="sync_scheduler_run_now"),
    path("connections/", connection_views.connection_list, name="connection_list"),
    path("connections/<slug:platform>/connect", connection_views.connection_connect, name="connection_connect"),
    path("connections/<slug:platform>/callback", connection_views.connection_callback, name="connection_callback"),
    path(
        "connections/<int:connection_id>/disconnect",
        connection_views.connection_disconnect_view,
        name="connection_disconnect",
    ),
]
