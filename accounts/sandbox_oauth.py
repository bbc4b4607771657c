"""Point every allauth provider at the sandbox (DESIGN §4).

Called from settings.py, so it imports nothing from Django: allauth's github, google and facebook
modules read these settings once, when they are imported, so they must be final before then.

Platforms that issue refresh tokens (Google, X, Reddit) use the sandbox's generic
`/oauth/authorize` and `/oauth/token`, where `accounts.tokens.refresh` also goes. GitHub and
Facebook, whose paths allauth derives from one base URL, and Instagram, whose token answer has its
own shape, are answered on their real paths by their sandbox modules.
"""

SANDBOX_SECRET = "sandbox"


def sandbox_provider_settings(providers: dict, sandbox: str) -> None:
    """Set, in settings' SOCIALACCOUNT_PROVIDERS, the URLs allauth reads for each provider, and an
    app for each provider that has none (the sandbox accepts any client)."""
    base = sandbox.rstrip("/")
    github, youtube, facebook = f"{base}/github", f"{base}/youtube", f"{base}/facebook"
    instagram, twitter, reddit = f"{base}/instagram", f"{base}/twitter", f"{base}/reddit"
    urls = {
        # allauth derives {GITHUB_URL}/login/oauth/... and {GITHUB_URL}/api/v3/... (GitHub Enterprise).
        "github": ("github", {"GITHUB_URL": github}),
        "google": (
            "youtube",
            {
                "AUTHORIZE_URL": f"{youtube}/oauth/authorize",
                "ACCESS_TOKEN_URL": f"{youtube}/oauth/token",
                "IDENTITY_URL": f"{youtube}/oauth2/v2/userinfo",
                "CERTS_URL": f"{youtube}/oauth2/v1/certs",
                # The sandbox signs its id_token as itself, not as accounts.google.com.
                "ID_TOKEN_ISSUER": youtube,
            },
        ),
        # Unversioned, as the Graph API also answers: allauth appends /oauth/access_token to it.
        "facebook": ("facebook", {"GRAPH_API_URL": facebook, "AUTHORIZE_URL": f"{facebook}/dialog/oauth"}),
        "instagram": (
            "instagram",
            {
                "AUTHORIZE_URL": f"{instagram}/oauth/authorize",
                "ACCESS_TOKEN_URL": f"{instagram}/oauth/access_token",
                "EXCHANGE_URL": f"{instagram}/access_token",
                "PROFILE_URL": f"{instagram}/me",
            },
        ),
        "twitter_oauth2": (
            "twitter",
            {
                "AUTHORIZE_URL": f"{twitter}/oauth/authorize",
                "ACCESS_TOKEN_URL": f"{twitter}/oauth/token",
                "PROFILE_URL": f"{twitter}/2/users/me",
            },
        ),
        "reddit": (
            "reddit",
            {
                "AUTHORIZE_URL": f"{reddit}/oauth/authorize",
                "ACCESS_TOKEN_URL": f"{reddit}/oauth/token",
                "PROFILE_URL": f"{reddit}/api/v1/me",
            },
        ),
    }
    for provider, (slug, settings) in urls.items():
        conf = providers.setdefault(provider, {})
        conf.update(settings)
        if not conf.get("APPS") and not conf.get("APP"):
            conf["APPS"] = [{"client_id": f"sandbox-{slug}", "secret": SANDBOX_SECRET}]
