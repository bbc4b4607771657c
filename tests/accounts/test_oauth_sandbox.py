"""Connecting an account through allauth's real OAuth flow, against the sandbox (DESIGN §4).

An installation sets STAREXPORT_SANDBOX before it starts, and settings.py hands allauth the
sandbox's URLs before allauth's provider modules are imported; some of those modules (github,
google, facebook) read their settings only then. These tests start a sandbox on a port picked
after settings loaded, so:

- `test_sandbox_settings_reach_every_allauth_adapter` starts a fresh Django process with
  STAREXPORT_SANDBOX set and checks that every adapter URL allauth computed points at the sandbox:
  the installation's path, with nothing patched;
- `oauth_sandbox` applies the same `sandbox_provider_settings` to the `settings` fixture and
  re-points the URLs those three modules froze at import, using the same table the fresh process
  was checked against. Our own providers read their URLs per request and need nothing more.
"""

import copy
import json
import os
import subprocess
import sys
from importlib import import_module

import pytest
import requests
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialAccount, SocialToken
from cryptography.fernet import Fernet

from accounts.tokens import token_for
from platforms.oauth import sandbox_provider_settings
from tests.conftest import ROOT

GITHUB = "allauth.socialaccount.providers.github.views"
GOOGLE = "allauth.socialaccount.providers.google.views"
FACEBOOK_VIEWS = "allauth.socialaccount.providers.facebook.views"
FACEBOOK_FLOWS = "allauth.socialaccount.providers.facebook.flows"


def frozen_urls(providers: dict) -> dict[str, str]:
    """`module:attribute` → the URL allauth's github, google and facebook modules compute, at
    import, from these provider settings."""
    github = providers["github"]["GITHUB_URL"]
    google = providers["google"]
    graph = providers["facebook"]["GRAPH_API_URL"]
    return {
        f"{GITHUB}:GitHubOAuth2Adapter.authorize_url": f"{github}/login/oauth/authorize",
        f"{GITHUB}:GitHubOAuth2Adapter.access_token_url": f"{github}/login/oauth/access_token",
        f"{GITHUB}:GitHubOAuth2Adapter.profile_url": f"{github}/api/v3/user",
        f"{GITHUB}:GitHubOAuth2Adapter.emails_url": f"{github}/api/v3/user/emails",
        f"{GOOGLE}:GoogleOAuth2Adapter.authorize_url": google["AUTHORIZE_URL"],
        f"{GOOGLE}:GoogleOAuth2Adapter.access_token_url": google["ACCESS_TOKEN_URL"],
        f"{GOOGLE}:GoogleOAuth2Adapter.identity_url": google["IDENTITY_URL"],
        f"{GOOGLE}:GoogleOAuth2Adapter.id_token_issuer": google["ID_TOKEN_ISSUER"],
        f"{GOOGLE}:CERTS_URL": google["CERTS_URL"],
        f"{GOOGLE}:ID_TOKEN_ISSUER": google["ID_TOKEN_ISSUER"],
        f"{FACEBOOK_VIEWS}:FacebookOAuth2Adapter.authorize_url": providers["facebook"]["AUTHORIZE_URL"],
        f"{FACEBOOK_VIEWS}:FacebookOAuth2Adapter.access_token_url": f"{graph}/oauth/access_token",
        f"{FACEBOOK_FLOWS}:GRAPH_API_URL": graph,
    }


def our_urls(providers: dict) -> dict[str, str]:
    """The same for our providers, which read their settings when used."""
    urls = {}
    for provider, adapter in [
        ("instagram", "platforms.instagram.provider.views:InstagramOAuth2Adapter"),
        ("twitter_oauth2", "platforms.twitter.provider.views:TwitterOAuth2Adapter"),
        ("reddit", "platforms.reddit.provider.views:RedditAdapter"),
    ]:
        urls[f"{adapter}.authorize_url"] = providers[provider]["AUTHORIZE_URL"]
        urls[f"{adapter}.access_token_url"] = providers[provider]["ACCESS_TOKEN_URL"]
        urls[f"{adapter}.profile_url"] = providers[provider]["PROFILE_URL"]
    urls["platforms.instagram.provider.views:InstagramOAuth2Adapter.exchange_url"] = providers["instagram"][
        "EXCHANGE_URL"
    ]
    return urls


def resolve(key: str):
    """(object, attribute name) for `module:Class.attribute`."""
    module, _, path = key.partition(":")
    *owners, name = path.split(".")
    target = import_module(module)
    for owner in owners:
        target = getattr(target, owner)
    return target, name


def without_apps(providers: dict) -> dict:
    return {p: {k: v for k, v in conf.items() if k not in ("APP", "APPS")} for p, conf in providers.items()}


@pytest.fixture
def oauth_sandbox(live_sandbox, settings, monkeypatch):
    """A sandbox that allauth's providers log in with, and the sandbox server."""
    server = live_sandbox()
    providers = copy.deepcopy(without_apps(settings.SOCIALACCOUNT_PROVIDERS))
    sandbox_provider_settings(providers, server.base_url)
    settings.SOCIALACCOUNT_PROVIDERS = providers
    for key, url in frozen_urls(providers).items():
        monkeypatch.setattr(*resolve(key), url)
    return server


def test_sandbox_settings_reach_every_allauth_adapter(settings):
    base = "http://127.0.0.1:8765"
    providers = copy.deepcopy(without_apps(settings.SOCIALACCOUNT_PROVIDERS))
    sandbox_provider_settings(providers, base)
    expected = {**frozen_urls(providers), **our_urls(providers)}
    script = (
        "import json, sys, django\n"
        "django.setup()\n"
        "from tests.accounts.test_oauth_sandbox import resolve\n"
        "print(json.dumps({key: getattr(*resolve(key)) for key in json.loads(sys.argv[1])}))\n"
    )
    env = {**os.environ, "STAREXPORT_SANDBOX": base, "DJANGO_SETTINGS_MODULE": "starexport.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(list(expected))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


# provider id → (platform slug, a profile endpoint on the sandbox)
FLOWS = {
    "github": ("github", "/user"),
    "google": ("youtube", "/youtube/v3/channels?part=snippet&mine=true"),
    "facebook": ("facebook", "/me"),
    "instagram": ("instagram", "/me"),
    "twitter_oauth2": ("twitter", "/2/users/me"),
    "reddit": ("reddit", "/api/v1/me"),
}


def sign_in(session: requests.Session, site: str, login: str, password: str) -> None:
    session.get(f"{site}/accounts/login/")
    response = session.post(
        f"{site}/accounts/login/",
        data={"login": login, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
    )
    assert response.ok and "sessionid" in session.cookies, response.text[:500]


@pytest.mark.parametrize("provider", FLOWS)
def test_connecting_an_account_runs_allauths_flow_against_the_sandbox(
    provider, oauth_sandbox, live_server, transactional_db, platforms, make_user, settings
):
    settings.STAREXPORT_TOKEN_KEY = Fernet.generate_key().decode()
    slug, profile_path = FLOWS[provider]
    user = make_user("alice")
    with requests.Session() as session:
        sign_in(session, live_server.url, "alice", "pw-alice")
        # allauth 65 starts a provider login only on POST; GET shows a confirmation page.
        response = session.post(
            f"{live_server.url}/accounts/{provider}/login/?process=connect",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        )

    visited = [r.url for r in response.history] + [response.url]
    assert any(url.startswith(f"{oauth_sandbox.base_url}/{slug}/") for url in visited), visited
    assert any(f"/accounts/{provider}/login/callback/" in url for url in visited), visited
    account = SocialAccount.objects.get(user=user, provider=provider)
    assert account.uid
    stored = SocialToken.objects.filter(account=account).values_list("token", flat=True).get()
    assert stored.startswith("fernet:")
    access = token_for(user, platforms[slug])
    profile = requests.get(
        f"{oauth_sandbox.base_url}/{slug}{profile_path}", headers={"Authorization": f"Bearer {access}"}, timeout=10
    )
    assert profile.status_code == 200, profile.text


def test_a_provider_without_an_app_is_not_configured(settings, rf, db):
    settings.STAREXPORT_SANDBOX = ""
    settings.SOCIALACCOUNT_PROVIDERS = without_apps(settings.SOCIALACCOUNT_PROVIDERS)
    request = rf.get("/")
    for provider in FLOWS:
        assert get_adapter().list_apps(request, provider=provider) == [], provider


def test_the_sandbox_gives_each_provider_an_app_but_keeps_a_configured_one(settings, rf, db):
    providers = without_apps(settings.SOCIALACCOUNT_PROVIDERS)
    providers["github"]["APPS"] = [{"client_id": "real-id", "secret": "real-secret"}]
    sandbox_provider_settings(providers, "http://127.0.0.1:8765/")
    settings.SOCIALACCOUNT_PROVIDERS = providers
    request = rf.get("/")

    apps = {provider: get_adapter().list_apps(request, provider=provider) for provider in FLOWS}

    assert [app.client_id for app in apps["github"]] == ["real-id"]
    assert [app.client_id for app in apps["google"]] == ["sandbox-youtube"]
    assert [app.client_id for app in apps["twitter_oauth2"]] == ["sandbox-twitter"]
    assert providers["reddit"]["AUTHORIZE_URL"] == "http://127.0.0.1:8765/reddit/oauth/authorize"
