from django.apps import AppConfig


class ProviderConfig(AppConfig):
    """Reddit's sign-in (an allauth provider), installed as its own app as allauth expects."""

    name = "platforms.reddit.provider"
    label = "reddit_provider"
