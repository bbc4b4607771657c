"""`manage.py export`: one export from the command line (DESIGN §5).

Progress goes to stderr and nothing else does; the archive's path (or presigned URL) is the last
line of stdout. Bad arguments exit 2, a failed export exits 1.
"""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from exports import jobs
from exports.cli import Progress, quiet, run_to_archive
from exports.models import ExportJob


class Command(BaseCommand):
    help = "Export one user's content from one platform into a ZIP archive."
    # The system checks are for `manage.py check` and the web server's start; here they only
    # delay every export (about a tenth of a second).
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="Username of the account to export.")
        parser.add_argument("--platform", required=True, help="Platform slug, e.g. github.")
        parser.add_argument("--media", action="store_true", help="Download the media files too.")
        parser.add_argument("--format", default="json", help="Comma-separated metadata formats: json, csv.")
        parser.add_argument("--queue", action="store_true", help="Hand the job to the workers and follow it.")
        parser.add_argument(
            "--only-new",
            action="store_true",
            help="Fetch only what your library does not have yet; the archive still holds everything.",
        )

    def handle(self, *args, **options):
        quiet()
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}.", returncode=2)
        formats = [f.strip().lower() for f in options["format"].split(",") if f.strip()]
        try:
            job = jobs.export_job_create(
                owner=user,
                platform_slug=options["platform"],
                formats=formats,
                include_media=options["media"],
                options={"only_new": options["only_new"]},
                enqueue=options["queue"],
            )
        except jobs.ExportRequestError as exc:
            raise CommandError(exc.message, returncode=2) from None

        run_to_archive(self, job, what="Export", follow=self.follow if options["queue"] else None)

    def follow(self, job: ExportJob, progress: Progress) -> ExportJob:
        while True:
            job.refresh_from_db()
            progress(job)
            if job.status in ExportJob.FINISHED:
                return job
            time.sleep(0.5)
