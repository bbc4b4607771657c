"""`manage.py import_archive`: an official archive the platform gave the user, turned into an export
archive (DESIGN §5). Output as `export`: progress on stderr, the archive's path last on stdout.

Exit 2 for bad arguments and for an archive of another platform; exit 1 with the reason for an
archive that is damaged or refused, or an import that failed. The archive is checked before it is
copied into storage, so a refused one is never stored.
"""

import os
import uuid
from contextlib import ExitStack

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
    # The system checks import every URLconf, view, admin and API schema of the site: 30 MB this
    # one-off process would carry through the import for nothing (`manage.py check` runs them).
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="Username of the account the archive belongs to.")
        parser.add_argument("--platform", required=True, help="Platform slug, e.g. twitter.")
        parser.add_argument(
            "path",
            nargs="+",
            help="The archive file the platform gave you (ZIP, or tar.gz); every part of a download split "
            "into several (takeout-…-001.zip takeout-…-002.zip) imports as one.",
        )
        parser.add_argument(
            "--skip-sensitive",
            action="store_true",
            help="Leave out direct messages, chats and watch or search history (imported by default).",
        )

    def handle(self, *args, **options):
        quiet()
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}.", returncode=2)
        slug = options["platform"]
        if not Platform.objects.filter(slug=slug).exists() or not registry.importer_available(slug):
            known = ", ".join(sorted(registry.IMPORTERS))
            raise CommandError(f"Unknown platform {slug!r}; archives can be imported from {known}.", returncode=2)
        paths = options["path"]
        for path in paths:
            if not os.path.isfile(path):
                raise CommandError(f"No such file: {path}", returncode=2)

        job_id = uuid.uuid4()
        with ExitStack() as stack:
            parts = [(stack.enter_context(open(p, "rb")), os.path.getsize(p)) for p in paths]
            try:
                platform_importer.archive_inspect(parts, platform_slug=slug)
            except platform_importer.WrongPlatform as exc:
                raise CommandError(exc.message, returncode=2) from None
            except ExtractorError as exc:
                raise CommandError(exc.message, returncode=1) from None
            upload_names = []
            for path, (f, _) in zip(paths, parts, strict=True):
                f.seek(0)
                name = importing.upload_name_for(user.pk, job_id, os.path.basename(path))
                upload_names.append(default_storage.save(name, File(f, name=name)))
        upload_name, size = upload_names[0], parts[0][1]
        try:
            job = importing.import_job_create(
                owner=user,
                platform_slug=slug,
                upload_name=upload_name,
                upload_size=size,
                job_id=job_id,
                enqueue=False,
                skip_sensitive=options["skip_sensitive"],
                upload_parts=upload_names[1:],
            )
        except jobs.ExportRequestError as exc:
            for name in upload_names:
                default_storage.delete(name)
            raise CommandError(exc.message, returncode=2) from None

        run_to_archive(self, job, what="Import")
