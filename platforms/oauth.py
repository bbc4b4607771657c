"""Each platform's sign-in wiring (`platforms/<slug>/oauth.py`) gathered for settings: the provider
apps to install, SOCIALACCOUNT_PROVIDERS, and which platform a provider signs in to.

Imported by settings, so it imports nothing from Django: allauth's github, google and facebook
modules read these settings once, when they are imported, so they must be final before then.
Platforms that issue refresh tokens (Google, X, Reddit) use the sandbox's generic
`/oauth/authorize` and `/oauth/token`, where `accounts.tokens.refresh` also goes; GitHub and
Facebook, whose paths allauth derives from one base URL, and Instagram, whose token answer has its
own shape, are answered on their real paths by their sandbox modules.
"""

from __future__ import annotations

from importlib import import_module

from platforms.registry import slugs

SANDBOX_SECRET = "sandbox"


def wiring(slug: str):
    return import_module(f"platforms.{slug}.oauth")


def provider_apps() -> list[str]:
    return [wiring(slug).APP for slug in slugs()]


def provider_platform() -> dict[str, str]:
    """Provider id -> platform slug (their env names: GITHUB_CLIENT_ID, YOUTUBE_CLIENT_ID, ...)."""
    return {wiring(slug).PROVIDER: slug for slug in slugs()}


def provider_settings(secret) -> dict:
    """SOCIALACCOUNT_PROVIDERS: each provider's scopes and settings, and its app when the
    environment names one (`secret(name)` reads `<SLUG>_CLIENT_ID` / `_SECRET`)."""
    providers = {}
    for slug in slugs():
        module = wiring(slug)
        conf = {"SCOPE": list(module.SCOPES), **module.SETTINGS}
        client_id = secret(f"{slug.upper()}_CLIENT_ID")
        if client_id:
            conf["APPS"] = [{"client_id": client_id, "secret": secret(f"{slug.upper()}_CLIENT_SECRET")}]
        providers[module.PROVIDER] = conf
    return providers


def sandbox_provider_settings(providers: dict, sandbox: str) -> None:
    """Set, in SOCIALACCOUNT_PROVIDERS, the URLs allauth reads for each provider, and an app for
    each provider that has none (the sandbox accepts any client)."""
    base = sandbox.rstrip("/")
    for slug in slugs():
        module = wiring(slug)
        conf = providers.setdefault(module.PROVIDER, {})
        conf.update(module.sandbox_urls(f"{base}/{slug}"))
        if not conf.get("APPS") and not conf.get("APP"):
            conf["APPS"] = [{"client_id": f"sandbox-{slug}", "secret": SANDBOX_SECRET}]
