"""allauth's X (Twitter OAuth 2.0) provider with URLs settings may override; same id, so stored
accounts stay `twitter_oauth2`."""

from allauth.socialaccount.providers.twitter_oauth2 import provider as allauth_provider

from platforms.twitter.provider.views import TwitterOAuth2Adapter


class TwitterOAuth2Provider(allauth_provider.TwitterOAuth2Provider):
    oauth2_adapter_class = TwitterOAuth2Adapter


provider_classes = [TwitterOAuth2Provider]
