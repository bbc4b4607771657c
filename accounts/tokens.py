"""The user's platform tokens: read from allauth's SocialToken, encrypted at rest, refreshed.

allauth stores tokens as plain text; we encrypt them with Fernet under STAREXPORT_TOKEN_KEY, so a
database dump does not hand out working tokens. Without a key no token is stored at all: saving one
raises TokenKeyMissing, whose message names the setting.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import requests
from allauth.socialaccount.models import SocialAccount, SocialToken
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.utils import timezone

PREFIX = "fernet:"


class NotConnected(Exception):
    pass


class TokenKeyMissing(NotConnected):
    def __init__(self):
        super().__init__(
            "Accounts cannot be connected: STAREXPORT_TOKEN_KEY is not set, and platform tokens are never "
            "stored unencrypted. Set STAREXPORT_TOKEN_KEY (or STAREXPORT_TOKEN_KEY_FILE) to a Fernet key."
        )


def can_store_tokens() -> bool:
    return bool(settings.STAREXPORT_TOKEN_KEY)


def create_key_file(path: Path) -> bool:
    """Write a new Fernet key to `path`, readable by its owner only, unless a key is there already."""
    path = Path(path)
    if path.is_file() and path.read_text().strip():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as f:
        f.write(Fernet.generate_key().decode() + "\n")
    return True


def _fernet() -> Fernet | None:
    key = settings.STAREXPORT_TOKEN_KEY
    if not key:
        return None
    try:
        return Fernet(key.encode())
    except ValueError:
        # Any passphrase works: derive a Fernet key from it.
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def encrypt(value: str) -> str:
    if not value or value.startswith(PREFIX):
        return value
    fernet = _fernet()
    if fernet is None:
        raise TokenKeyMissing()
    return PREFIX + fernet.encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    if not value or not value.startswith(PREFIX):
        return value
    fernet = _fernet()
    if fernet is None:
        raise NotConnected("Stored tokens are encrypted but STAREXPORT_TOKEN_KEY is not set.")
    try:
        return fernet.decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise NotConnected("A stored token cannot be decrypted with the current STAREXPORT_TOKEN_KEY.") from None


def social_token(user, platform) -> SocialToken | None:
    return (
        SocialToken.objects.filter(account__user=user, account__provider=platform.provider_id)
        .select_related("account")
        .order_by("-id")
        .first()
    )


def connection_state(user, platform) -> str:
    """ "connected", "expired" (reconnect to go on) or "missing"."""
    token = social_token(user, platform)
    if token is None:
        return "missing"
    if token.expires_at and token.expires_at < timezone.now() and not token.token_secret:
        return "expired"
    return "connected"


def token_for(user, platform) -> str:
    """A usable access token for the user on the platform, refreshed when it has expired."""
    token = social_token(user, platform)
    if token is None:
        if not SocialAccount.objects.filter(user=user, provider=platform.provider_id).exists():
            raise NotConnected(f"{user} has no connected {platform.display_name} account; connect it first.")
        raise NotConnected(f"The {platform.display_name} connection has no stored token; reconnect it.")
    if token.expires_at and token.expires_at < timezone.now() + timedelta(minutes=2) and token.token_secret:
        token = refresh(token, platform)
    return decrypt(token.token)


def token_endpoint(platform) -> str:
    return f"{platform.base_url}/oauth/token" if settings.STAREXPORT_SANDBOX else platform.token_url


def refresh(token: SocialToken, platform) -> SocialToken:
    """Trade the refresh token for a new access token (providers that issue refresh tokens)."""
    from platforms.client import guarded_session

    app_conf = settings.SOCIALACCOUNT_PROVIDERS.get(platform.provider_id, {}).get("APPS", [{}])[0]
    data = {
        "grant_type": "refresh_token",
        "refresh_token": decrypt(token.token_secret),
        "client_id": app_conf.get("client_id", ""),
        "client_secret": app_conf.get("secret", ""),
    }
    try:
        response = guarded_session(retries=2).post(token_endpoint(platform), data=data, timeout=20)
        payload = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise NotConnected(f"Could not refresh the {platform.display_name} token: {exc}") from None
    if response.status_code >= 400 or "access_token" not in payload:
        raise NotConnected(f"{platform.display_name} refused to refresh the token; reconnect your account.")
    token.token = encrypt(payload["access_token"])
    if payload.get("refresh_token"):
        token.token_secret = encrypt(payload["refresh_token"])
    if payload.get("expires_in"):
        token.expires_at = timezone.now() + timedelta(seconds=int(payload["expires_in"]))
    token.save()
    return token


def store_token(account: SocialAccount, *, access: str, refresh_token: str = "", expires_at=None) -> SocialToken:
    token, _ = SocialToken.objects.update_or_create(
        account=account,
        app=None,
        defaults={"token": encrypt(access), "token_secret": encrypt(refresh_token), "expires_at": expires_at},
    )
    return token
