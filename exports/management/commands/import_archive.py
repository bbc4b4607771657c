"""`manage.py import_archive`: an official archive the platform gave the user, turned into an export
archive (DESIGN §5). Output as `export`: progress on stderr, the archive's path last on stdout.

Exit 2 for bad arguments and for an archive of another platform; exit 1 with the reason for an
archive that is damaged or refused, or an import that failed. The archive is checked before it is
copied into storage, so a refused one is never stored.
"""

import os
import uuid

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from exports import importing, jobs
from exports.cli import quiet, run_to_archive
from platforms import importer as platform_importer
from platforms import registry
from platforms.base import ExtractorError
from platforms.models import Platform


class Command(BaseCommand):
    help = "Turn an official archive a platform gave the user (X archive, Takeout, …) into an export archive."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="Username of the account the archive belongs to.")
        parser.add_argument("--platform", required=True, help="Platform slug, e.g. twitter.")
        parser.add_argument("path", help="The archive file the platform gave you (ZIP, or tar.gz for GitHub).")

    def handle(self, *args, **options):
        quiet()
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}.", returncode=2)
        slug = options["platform"]
        if not Platform.objects.filter(slug=slug).exists() or not registry.importer_available(slug):
            known = ", ".join(sorted(registry.IMPORTERS))
            raise CommandError(f"Unknown platform {slug!r}; archives can be imported from {known}.", returncode=2)
        path = options["path"]
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}", returncode=2)

        size = os.path.getsize(path)
        job_id = uuid.uuid4()
        with open(path, "rb") as f:
            try:
                platform_importer.archive_inspect(f, platform_slug=slug, size=size)
            except platform_importer.WrongPlatform as exc:
                raise CommandError(exc.message, returncode=2) from None
            except ExtractorError as exc:
                raise CommandError(exc.message, returncode=1) from None
            f.seek(0)
            name = importing.upload_name_for(user.pk, job_id, os.path.basename(path))
            upload_name = default_storage.save(name, File(f, name=name))
        try:
            job = importing.import_job_create(
                owner=user, platform_slug=slug, upload_name=upload_name, upload_size=size, job_id=job_id, enqueue=False
            )
        except jobs.ExportRequestError as exc:
            default_storage.delete(upload_name)
            raise CommandError(exc.message, returncode=2) from None

        run_to_archive(self, job, what="Import")
