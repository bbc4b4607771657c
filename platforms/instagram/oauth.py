"""Instagram (the Instagram API with Instagram Login): sign-in wiring, read by settings (so plain data, no Django imports)."""

# The allauth provider id (stored accounts keep it) and the app that provides it.
PROVIDER = "instagram"
APP = "platforms.instagram.provider"
# What an export needs to read.
SCOPES = ["instagram_business_basic"]
# Further allauth settings of this provider.
SETTINGS: dict = {}


def sandbox_urls(base: str) -> dict:
    """The allauth URL settings that point this provider at the sandbox's `base` for it."""
    return {
        "AUTHORIZE_URL": f"{base}/oauth/authorize",
        "ACCESS_TOKEN_URL": f"{base}/oauth/access_token",
        "EXCHANGE_URL": f"{base}/access_token",
        "PROFILE_URL": f"{base}/me",
    }
