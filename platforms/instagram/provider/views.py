"""Instagram API with Instagram Login ("Business Login for Instagram").

The code is traded for a short-lived token (an hour) at api.instagram.com, which is traded at once
for a long-lived one (60 days): an export may start well after the user connected.
"""

from __future__ import annotations

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter, OAuth2CallbackView, OAuth2LoginView
from allauth.utils import get_request_param

from platforms.provider_urls import ProviderURL

PROFILE_FIELDS = "user_id,username,name,account_type,profile_picture_url"


class InstagramOAuth2Adapter(OAuth2Adapter):
    provider_id = "instagram"
    authorize_url = ProviderURL("AUTHORIZE_URL", "https://www.instagram.com/oauth/authorize")
    access_token_url = ProviderURL("ACCESS_TOKEN_URL", "https://api.instagram.com/oauth/access_token")
    exchange_url = ProviderURL("EXCHANGE_URL", "https://graph.instagram.com/access_token")
    profile_url = ProviderURL("PROFILE_URL", "https://graph.instagram.com/me")
    scope_delimiter = ","

    def get_access_token_data(self, request, app, client, pkce_code_verifier=None):
        data = {
            "client_id": app.client_id,
            "client_secret": app.secret,
            "grant_type": "authorization_code",
            "redirect_uri": client.callback_url,
            "code": get_request_param(request, "code"),
        }
        with get_adapter().get_requests_session() as session:
            response = session.post(self.access_token_url, data=data)
            self.did_fetch_access_token = True
            short = self._token_from(response)
            params = {
                "grant_type": "ig_exchange_token",
                "client_secret": app.secret,
                "access_token": short["access_token"],
            }
            response = session.get(self.exchange_url, params=params)
            long = self._token_from(response)
        return {**short, **long}

    @staticmethod
    def _token_from(response) -> dict:
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        # Meta documents the code exchange as {"data": [{access_token, user_id, permissions}]};
        # the API has also been seen answering with the object itself, as the exchange does.
        if isinstance(payload.get("data"), list) and payload["data"]:
            payload = payload["data"][0]
        if not response.ok or "access_token" not in payload:
            raise OAuth2Error(f"Error retrieving access token: {response.content!r}")
        return payload

    def complete_login(self, request, app, token, **kwargs):
        with get_adapter().get_requests_session() as session:
            response = session.get(self.profile_url, params={"fields": PROFILE_FIELDS, "access_token": token.token})
            response.raise_for_status()
            extra_data = response.json()
        return self.get_provider().sociallogin_from_response(request, extra_data)


oauth2_login = OAuth2LoginView.adapter_view(InstagramOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(InstagramOAuth2Adapter)
