"""What is read about a user's platforms and their connections."""

from allauth.socialaccount.adapter import get_adapter

from accounts.tokens import connection_state
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
                # Connecting needs the platform's OAuth app (client id and secret) on this server.
                "configured": bool(get_adapter().list_apps(None, provider=platform.provider_id)),
            }
        )
    return cards
