"""Adapter URLs that settings may override, for the allauth providers of our own (Instagram's current
login, and subclasses of providers whose URLs allauth fixes in code), so that the sandbox (DESIGN §4)
can point them elsewhere."""

from allauth.socialaccount import app_settings


class ProviderURL:
    """An adapter URL that the provider's settings may override (`AUTHORIZE_URL`, ...).

    Read when used rather than at import, so a settings change (a test's sandbox on a port picked
    late) reaches it like any other allauth setting read per request."""

    def __init__(self, setting: str, default: str):
        self.setting = setting
        self.default = default

    def __get__(self, adapter, owner) -> str:
        return app_settings.PROVIDERS.get(owner.provider_id, {}).get(self.setting, self.default)
