"""`manage.py token_key`: a Fernet key for the users' OAuth tokens, kept in var/token.key.

For the demo and single-machine installs; settings read that file when neither
STAREXPORT_TOKEN_KEY nor STAREXPORT_TOKEN_KEY_FILE is set. An existing key is never replaced:
the tokens stored under it could not be read any more.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.tokens import create_key_file


class Command(BaseCommand):
    help = "Create var/token.key (the key OAuth tokens are encrypted with) unless it exists."

    def handle(self, *args, **options):
        path = settings.TOKEN_KEY_PATH
        created = create_key_file(path)
        self.stdout.write(f"{'Created' if created else 'Kept'} {path}")
