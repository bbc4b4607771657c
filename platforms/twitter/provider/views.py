from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.twitter_oauth2 import views as allauth_views

from platforms.provider_urls import ProviderURL

Allauth = allauth_views.TwitterOAuth2Adapter


class TwitterOAuth2Adapter(Allauth):
    access_token_url = ProviderURL("ACCESS_TOKEN_URL", Allauth.access_token_url)
    authorize_url = ProviderURL("AUTHORIZE_URL", Allauth.authorize_url)
    profile_url = ProviderURL("PROFILE_URL", Allauth.profile_url)


oauth2_login = OAuth2LoginView.adapter_view(TwitterOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(TwitterOAuth2Adapter)
