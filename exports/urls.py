from django.urls import path

from exports import views

app_name = "exports"

urlpatterns = [
    path("", views.export_list, name="list"),
    path("new/", views.export_new, name="new"),
    path("schedules/", views.schedule_list, name="schedules"),
    path("schedules/<int:schedule_id>/delete", views.schedule_remove, name="schedule-delete"),
    path("<uuid:job_id>/", views.export_detail, name="detail"),
    path("<uuid:job_id>/progress", views.export_progress, name="progress"),
    path("<uuid:job_id>/status.json", views.export_status, name="status"),
    path("<uuid:job_id>/cancel", views.export_cancel, name="cancel"),
    path("<uuid:job_id>/retry", views.export_retry, name="retry"),
    path("<uuid:job_id>/download", views.export_download, name="download"),
]
