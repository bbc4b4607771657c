from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User

admin.site.register(User, UserAdmin)

# Users, their email addresses and their platform connections come from three apps (ours and
# allauth's two); operators look for them in one place, so the index shows one "Accounts".
ACCOUNT_APPS = ("accounts", "account", "socialaccount")
_app_list = admin.site.get_app_list


def accounts_in_one_section(request, app_label=None):
    apps = _app_list(request, app_label)
    merged = [app for app in apps if app["app_label"] in ACCOUNT_APPS]
    if app_label is not None or len(merged) < 2:
        return apps
    first = merged[0]
    section = {
        **first,
        "name": "Accounts",
        "models": sorted((model for app in merged for model in app["models"]), key=lambda model: model["name"]),
    }
    return [section if app is first else app for app in apps if app is first or app not in merged]


admin.site.get_app_list = accounts_in_one_section
