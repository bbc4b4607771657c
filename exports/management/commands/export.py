"""`manage.py export`: one export from the command line (DESIGN §5).

Progress goes to stderr and nothing else does; the archive's path (or presigned URL) is the last
line of stdout. Bad arguments exit 2, a failed export exits 1.
"""

import logging
import sys
import time
import warnings

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from exports import services
from exports.models import ExportJob


class Progress:
    """A progress bar on a terminal; plain lines (one per change of step) anywhere else."""

    def __init__(self, stream):
        self.stream = stream
        self.last = None
        self.bar = None
        if stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                console=Console(file=stream),
                transient=True,
            )
            self.task = self.bar.add_task("Starting", total=100)
            self.bar.start()

    def __call__(self, job: ExportJob) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=job.progress, description=job.step or job.status)
            return
        line = f"[{job.progress:3d}%] {job.step or job.status}"
        if line != self.last:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last = line

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class Command(BaseCommand):
    help = "Export one user's content from one platform into a ZIP archive."

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
        # stderr carries progress only: no log lines, no warnings.
        logging.disable(logging.CRITICAL)
        warnings.simplefilter("ignore")
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}.", returncode=2)
        formats = [f.strip().lower() for f in options["format"].split(",") if f.strip()]
        try:
            job = services.export_job_create(
                owner=user,
                platform_slug=options["platform"],
                formats=formats,
                include_media=options["media"],
                options={"only_new": options["only_new"]},
                enqueue=options["queue"],
            )
        except services.ExportRequestError as exc:
            raise CommandError(exc.message, returncode=2) from None

        progress = Progress(sys.stderr)
        try:
            if options["queue"]:
                job = self.follow(job, progress)
            else:
                job = services.job_run_inline(job, on_progress=progress)
        except KeyboardInterrupt:
            services.job_cancel(job)
            raise CommandError("Interrupted; the export was canceled.", returncode=1) from None
        finally:
            progress.close()
        if job.status != ExportJob.Status.SUCCEEDED:
            raise CommandError(f"Export {job.status}: {job.error or job.step}", returncode=1)
        if job.media_failed:
            sys.stderr.write(f"{job.media_failed} media files could not be downloaded; see failures.csv\n")
        self.stdout.write(services.archive_location(job))

    def follow(self, job: ExportJob, progress: Progress) -> ExportJob:
        while True:
            job.refresh_from_db()
            progress(job)
            if job.status in ExportJob.FINISHED:
                return job
            time.sleep(0.5)
