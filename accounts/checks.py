from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def token_key_set(app_configs, **kwargs):
    """Without STAREXPORT_TOKEN_KEY no account can be connected: tokens are never stored in plain text."""
    if settings.STAREXPORT_TOKEN_KEY:
        return []
    return [
        checks.Error(
            "STAREXPORT_TOKEN_KEY is not set: no platform account can be connected, since tokens are "
            "stored only encrypted.",
            hint="Set STAREXPORT_TOKEN_KEY (or STAREXPORT_TOKEN_KEY_FILE) to a Fernet key or a long passphrase; "
            "`manage.py token_key` writes one to var/token.key.",
            id="starexport.E001",
        )
    ]
