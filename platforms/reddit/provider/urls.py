from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from platforms.reddit.provider.provider import RedditProvider

urlpatterns = default_urlpatterns(RedditProvider)
