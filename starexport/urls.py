from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import include, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from api.v1 import api as api_v1
from api.views import archive_key
from exports.views import dashboard


def admin_login(request):
    """The admin has no sign-in of its own: the site's (allauth, with its rate limits and lockout)
    signs people in, and the admin then lets in staff only. A signed-in user who is not staff gets
    403, rather than a loop back to the sign-in page."""
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        next_url = reverse("admin:index")
    if not request.user.is_authenticated:
        return redirect_to_login(next_url, login_url=reverse("account_login"))
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied("The admin is for staff only.")
    return redirect(next_url)


urlpatterns = [
    path("admin/login/", admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("api.urls")),
    path("api/v1/", api_v1.urls),
    path("exports/<uuid:job_id>/key", archive_key, name="archive-key"),
    path("exports/", include("exports.urls")),
    path("library/", include("library.urls")),
    path("", dashboard, name="dashboard"),
]
