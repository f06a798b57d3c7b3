from __future__ import annotations

from django.urls import path

from tasks import views_notifications as views

urlpatterns = [
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/read-all/", views.notification_read_all, name="notification_read_all"),
    path("notifications/<int:notification_id>/read/", views.notification_read, name="notification_read"),
    path("settings/notifications/", views.notification_preferences, name="notification_preferences"),
    path(
        "settings/notifications/devices/<int:subscription_id>/remove/",
        views.push_subscription_remove,
        name="push_subscription_remove",
    ),
    path("service-worker.js", views.service_worker, name="service_worker"),
    path("manifest.webmanifest", views.web_manifest, name="web_manifest"),
]
