"""allauth's Reddit provider with URLs settings may override; same id, so stored accounts stay
`reddit`."""

from allauth.socialaccount.providers.reddit import provider as allauth_provider

from platforms.reddit.provider.views import RedditAdapter


class RedditProvider(allauth_provider.RedditProvider):
    oauth2_adapter_class = RedditAdapter


provider_classes = [RedditProvider]
