from django.apps import AppConfig
from django.db.models.signals import pre_save


def _encrypt_token(sender, instance, **kwargs):
    # Every path that saves a SocialToken (allauth's login, connect and refresh flows, ours)
    # goes through here, so no token reaches the database unencrypted when a key is set.
    from accounts.tokens import encrypt

    instance.token = encrypt(instance.token)
    instance.token_secret = encrypt(instance.token_secret)


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from allauth.socialaccount.models import SocialToken

        from accounts import checks  # noqa: F401 — registers the deploy check

        pre_save.connect(_encrypt_token, sender=SocialToken, dispatch_uid="accounts.encrypt_token")
