"""YouTube (a Google account): sign-in wiring, read by settings (so plain data, no Django imports)."""

# The allauth provider id (stored accounts keep it) and the app that provides it.
PROVIDER = "google"
APP = "allauth.socialaccount.providers.google"
# What an export needs to read.
SCOPES = ["profile", "email", "https://www.googleapis.com/auth/youtube.readonly"]
# Further allauth settings of this provider.
SETTINGS: dict = {"AUTH_PARAMS": {"access_type": "offline", "prompt": "consent"}}


def sandbox_urls(base: str) -> dict:
    """The allauth URL settings that point this provider at the sandbox's `base` for it."""
    return {
        "AUTHORIZE_URL": f"{base}/oauth/authorize",
        "ACCESS_TOKEN_URL": f"{base}/oauth/token",
        "IDENTITY_URL": f"{base}/oauth2/v2/userinfo",
        "CERTS_URL": f"{base}/oauth2/v1/certs",
        # The sandbox signs its id_token as itself, not as accounts.google.com.
        "ID_TOKEN_ISSUER": base,
    }
