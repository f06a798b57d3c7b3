from __future__ import annotations

from django.urls import path

from tasks import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/board/", views.task_board, name="task_board"),
    path("tasks/export.csv", views.task_export_csv, name="task_export_csv"),
    path("tasks/new/", views.task_create, name="task_create"),
    path("tasks/<uuid:task_id>/", views.task_detail, name="task_detail"),
    path("tasks/<uuid:task_id>/edit/", views.task_edit, name="task_edit"),
    path("tasks/<uuid:task_id>/delete/", views.task_delete, name="task_delete"),
    path("tasks/<uuid:task_id>/move/", views.task_move, name="task_move"),
]
