from django.urls import path

from exports import views

app_name = "exports"

urlpatterns = [
    path("", views.export_list, name="list"),
    path("new/", views.export_new, name="new"),
    path("schedules/", views.schedule_list, name="schedules"),
    path("import/", views.import_page, name="import"),
    path("import/uploads", views.upload_start, name="upload-start"),
    path("import/uploads/<uuid:upload_id>", views.upload_detail, name="upload"),
    path("import/uploads/<uuid:upload_id>/finish", views.upload_complete, name="upload-finish"),
    path("schedules/<int:schedule_id>/delete", views.schedule_remove, name="schedule-delete"),
    path("<uuid:job_id>/", views.export_detail, name="detail"),
    path("<uuid:job_id>/progress", views.export_progress, name="progress"),
    path("<uuid:job_id>/status.json", views.export_status, name="status"),
    path("<uuid:job_id>/cancel", views.export_cancel, name="cancel"),
    path("<uuid:job_id>/retry", views.export_retry, name="retry"),
    path("<uuid:job_id>/delete", views.export_delete, name="delete"),
    path("<uuid:job_id>/download", views.export_download, name="download"),
]
