"""An allauth provider for the Instagram API with Instagram Login.

allauth's own `instagram` provider speaks the Basic Display API, which Meta retired in December
2024. This one keeps its id, so an account stored as `instagram` stays one.
"""

from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from platforms.instagram.provider.views import InstagramOAuth2Adapter


class InstagramAccount(ProviderAccount):
    def get_profile_url(self):
        username = self.account.extra_data.get("username")
        return f"https://www.instagram.com/{username}/" if username else None

    def get_avatar_url(self):
        return self.account.extra_data.get("profile_picture_url")


class InstagramProvider(OAuth2Provider):
    id = "instagram"
    name = "Instagram"
    account_class = InstagramAccount
    oauth2_adapter_class = InstagramOAuth2Adapter

    def get_default_scope(self):
        return ["instagram_business_basic"]

    def extract_uid(self, data):
        # `user_id` is the professional account's id, the same for every app (webhooks use it);
        # `id` is scoped to this app.
        return str(data.get("user_id") or data["id"])

    def extract_common_fields(self, data):
        return {"username": data.get("username"), "name": data.get("name")}


provider_classes = [InstagramProvider]
