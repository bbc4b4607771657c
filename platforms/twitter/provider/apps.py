from django.apps import AppConfig


class ProviderConfig(AppConfig):
    """X's sign-in (an allauth provider), installed as its own app as allauth expects."""

    name = "platforms.twitter.provider"
    label = "twitter_oauth2_provider"
