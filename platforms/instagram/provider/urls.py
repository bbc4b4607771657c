from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from platforms.instagram.provider.provider import InstagramProvider

urlpatterns = default_urlpatterns(InstagramProvider)
