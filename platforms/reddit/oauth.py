"""Reddit: sign-in wiring, read by settings (so plain data, no Django imports)."""

# The allauth provider id (stored accounts keep it) and the app that provides it.
PROVIDER = "reddit"
APP = "platforms.reddit.provider"
# What an export needs to read.
SCOPES = ["identity", "history", "read"]
# Further allauth settings of this provider.
SETTINGS: dict = {
    "USER_AGENT": "web:starexport:0.1 (self-hosted export tool)",
    "AUTH_PARAMS": {"duration": "permanent"},
}


def sandbox_urls(base: str) -> dict:
    """The allauth URL settings that point this provider at the sandbox's `base` for it."""
    return {
        "AUTHORIZE_URL": f"{base}/oauth/authorize",
        "ACCESS_TOKEN_URL": f"{base}/oauth/token",
        "PROFILE_URL": f"{base}/api/v1/me",
    }
