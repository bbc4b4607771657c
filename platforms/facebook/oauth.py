"""Facebook: sign-in wiring, read by settings (so plain data, no Django imports)."""

# The allauth provider id (stored accounts keep it) and the app that provides it.
PROVIDER = "facebook"
APP = "allauth.socialaccount.providers.facebook"
# What an export needs to read.
SCOPES = ["public_profile", "user_posts", "user_photos", "user_videos"]
# Further allauth settings of this provider.
SETTINGS: dict = {}


def sandbox_urls(base: str) -> dict:
    """The allauth URL settings that point this provider at the sandbox's `base` for it."""
    # Unversioned, as the Graph API also answers: allauth appends /oauth/access_token to it.
    return {"GRAPH_API_URL": base, "AUTHORIZE_URL": f"{base}/dialog/oauth"}
