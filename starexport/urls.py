from django.contrib import admin
from django.urls import include, path

from exports.views import dashboard

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("accounts.urls")),
    path("exports/", include("exports.urls")),
    path("library/", include("library.urls")),
    path("", dashboard, name="dashboard"),
]
