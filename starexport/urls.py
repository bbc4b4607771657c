from django.contrib import admin
from django.urls import include, path

from api.v1 import api as api_v1
from api.views import archive_key
from exports.views import dashboard

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("api.urls")),
    path("api/v1/", api_v1.urls),
    path("exports/<uuid:job_id>/key", archive_key, name="archive-key"),
    path("exports/", include("exports.urls")),
    path("", dashboard, name="dashboard"),
]
