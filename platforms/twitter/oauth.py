"""X: sign-in wiring, read by settings (so plain data, no Django imports)."""

# The allauth provider id (stored accounts keep it) and the app that provides it.
PROVIDER = "twitter_oauth2"
APP = "platforms.twitter.provider"
# What an export needs to read.
SCOPES = ["tweet.read", "users.read", "offline.access"]
# Further allauth settings of this provider.
SETTINGS: dict = {}


def sandbox_urls(base: str) -> dict:
    """The allauth URL settings that point this provider at the sandbox's `base` for it."""
    return {
        "AUTHORIZE_URL": f"{base}/oauth/authorize",
        "ACCESS_TOKEN_URL": f"{base}/oauth/token",
        "PROFILE_URL": f"{base}/2/users/me",
    }
