from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.tokens import TokenRequestError, api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user; the token is the last line of stdout."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)
        parser.add_argument("--scopes", default="read,export", help="Comma-separated: read, export.")
        parser.add_argument("--name", default="Created on the command line")

    def handle(self, *args, user, scopes, name, **options):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}.", returncode=2)
        try:
            row, token = api_token_create(
                owner=owner, name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()]
            )
        except TokenRequestError as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stderr.write(f"Token {row.prefix}… for {owner} with scopes {', '.join(row.scopes)}.")
        self.stdout.write(token)
