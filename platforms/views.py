from django.shortcuts import render

from exports.selectors import active_jobs_count, jobs_for_owner
from platforms.models import Platform
from platforms.selectors import platform_cards


def dashboard(request):
    if not request.user.is_authenticated:
        return render(request, "landing.html", {"platforms": Platform.objects.filter(enabled=True)})
    context = {
        "cards": platform_cards(request.user),
        "jobs": jobs_for_owner(request.user)[:8],
        "active_count": active_jobs_count(request.user),
    }
    return render(request, "dashboard.html", context)
