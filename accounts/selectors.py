"""What is read about a user's platforms and their connections."""

from allauth.socialaccount import providers
from allauth.socialaccount.adapter import get_adapter

from accounts.tokens import connection_state
from platforms.models import Platform
from platforms.registry import available


def connection_label(platform: Platform) -> str:
    """ "YouTube (Google account)": the platform, and whose account signs in when it is not the
    platform's own ("Reddit", "Twitter / X")."""
    provider = providers.registry.get_class(platform.provider_id)
    brand = getattr(provider, "name", "")
    if not brand or brand.lower() in platform.display_name.lower():
        return platform.display_name
    return f"{platform.display_name} ({brand} account)"


def platform_cards(user) -> list[dict]:
    """Each enabled platform with what the user can do on it right now."""
    cards = []
    for platform in Platform.objects.filter(enabled=True):
        cards.append(
            {
                "platform": platform,
                "label": connection_label(platform),
                "state": connection_state(user, platform) if user.is_authenticated else "missing",
                # Platforms land one module at a time; show the ones not here yet, but say so.
                "available": available(platform.slug),
                # Connecting needs the platform's OAuth app (client id and secret) on this server.
                "configured": bool(get_adapter().list_apps(None, provider=platform.provider_id)),
            }
        )
    return cards
