"""GitHub: sign-in wiring, read by settings (so plain data, no Django imports)."""

# The allauth provider id (stored accounts keep it) and the app that provides it.
PROVIDER = "github"
APP = "allauth.socialaccount.providers.github"
# What an export needs to read.
SCOPES = ["read:user", "repo", "gist"]
# Further allauth settings of this provider.
SETTINGS: dict = {}


def sandbox_urls(base: str) -> dict:
    """The allauth URL settings that point this provider at the sandbox's `base` for it."""
    # allauth derives {GITHUB_URL}/login/oauth/... and {GITHUB_URL}/api/v3/... (GitHub Enterprise).
    return {"GITHUB_URL": base}
