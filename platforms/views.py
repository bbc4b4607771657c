from django.shortcuts import render

from accounts.tokens import connection_state
from exports.selectors import active_jobs_count, jobs_for_owner
from platforms.models import Platform
from platforms.registry import available


def platform_cards(user) -> list[dict]:
    """Each enabled platform with what the user can do on it right now."""
    cards = []
    for platform in Platform.objects.filter(enabled=True):
        cards.append(
            {
                "platform": platform,
                "state": connection_state(user, platform) if user.is_authenticated else "missing",
                # Platforms land one module at a time; show the ones not here yet, but say so.
                "available": available(platform.slug),
            }
        )
    return cards


def dashboard(request):
    if not request.user.is_authenticated:
        return render(request, "landing.html", {"platforms": Platform.objects.filter(enabled=True)})
    context = {
        "cards": platform_cards(request.user),
        "jobs": jobs_for_owner(request.user)[:8],
        "active_count": active_jobs_count(request.user),
    }
    return render(request, "dashboard.html", context)
