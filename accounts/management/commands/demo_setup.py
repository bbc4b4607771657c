"""`manage.py demo_setup`: the `demo` user, connected to the sandbox on every platform.

Idempotent: run it again to refresh the tokens and get a new password.
"""

import secrets

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.tokens import TokenKeyMissing, can_store_tokens, store_token
from platforms.models import Platform
from platforms.registry import available
from platforms.sandbox.auth import mint_token

DEMO = "demo"


class Command(BaseCommand):
    help = "Create or refresh the demo user, connected to the sandbox on every platform."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Use this password instead of a new random one.")

    def handle(self, *args, **options):
        if not can_store_tokens():
            raise CommandError(f"{TokenKeyMissing()} `manage.py token_key` writes one to var/token.key.")
        if not settings.STAREXPORT_SANDBOX:
            raise CommandError(
                "STAREXPORT_SANDBOX is not set: the demo user connects to the sandbox only.", returncode=2
            )
        User = get_user_model()
        user, _ = User.objects.get_or_create(username=DEMO, defaults={"email": "demo@example.com"})
        password = options.get("password") or secrets.token_urlsafe(12)
        user.set_password(password)
        user.email = user.email or "demo@example.com"
        user.save()
        EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
        connected = []
        for platform in Platform.objects.filter(enabled=True):
            if not available(platform.slug):
                continue
            account, _ = SocialAccount.objects.update_or_create(
                user=user,
                provider=platform.provider_id,
                defaults={"uid": f"{DEMO}-{platform.slug}", "extra_data": {"login": DEMO, "sandbox": True}},
            )
            store_token(
                account,
                access=mint_token(platform.slug, DEMO),
                refresh_token=mint_token(platform.slug, DEMO, kind="refresh"),
            )
            connected.append(platform.slug)
        self.stderr.write(f"demo user connected to the sandbox on: {', '.join(connected)}")
        self.stdout.write(f"password: {password}")
