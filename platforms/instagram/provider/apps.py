from django.apps import AppConfig


class ProviderConfig(AppConfig):
    """Instagram's sign-in (an allauth provider), installed as its own app as allauth expects."""

    name = "platforms.instagram.provider"
    label = "instagram_provider"
