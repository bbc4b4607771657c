from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def token_key_set(app_configs, **kwargs):
    """Without STAREXPORT_TOKEN_KEY the users' OAuth tokens are stored in plain text."""
    if settings.STAREXPORT_TOKEN_KEY:
        return []
    return [
        checks.Warning(
            "STAREXPORT_TOKEN_KEY is not set: the users' platform tokens are stored unencrypted.",
            hint="Set STAREXPORT_TOKEN_KEY (or STAREXPORT_TOKEN_KEY_FILE) to a Fernet key or a long passphrase.",
            id="starexport.W001",
        )
    ]
