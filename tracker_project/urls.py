from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from tracker_project import api_docs, views
from tracker_project.api import api

# The admin signs in through allauth's login page, so it shares its rate limits and MFA.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Tracker administration"
admin.site.site_title = "Tracker admin"

# Self-contained error pages (no static file, no database), JSON under /api/; a database outage
# answers 503 "try again" instead of the generic 500 (tracker_project/views.py).
handler400 = "tracker_project.views.bad_request"
handler403 = "tracker_project.views.permission_denied"
handler404 = "tracker_project.views.page_not_found"
handler500 = "tracker_project.views.server_error"

urlpatterns = [
    path("health", views.health, name="health"),
    path("api/v1/", api.urls),
    path("docs", api_docs.swagger_page, name="api_docs"),
    path("redoc", api_docs.redoc_page, name="api_redoc"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("sponsors.urls")),
    path("", include("integrations.urls")),
    path("", include("campaigns.urls")),
    path("", include("leads.urls")),
    path("", include("tasks.urls")),
    path("", include("tasks.urls_notifications")),
]
