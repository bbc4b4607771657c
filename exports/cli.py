"""What the `export` and `import_archive` commands share: quiet stderr, a progress display, and
running a job to its archive path (DESIGN §5)."""

import logging
import sys
import warnings

from django.core.management.base import CommandError

from exports import jobs, links, pipeline
from exports.models import ExportJob


def quiet() -> None:
    """stderr carries progress only: no log lines, no warnings."""
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")


class Progress:
    """A progress bar on a terminal; plain lines (one per change of step) anywhere else."""

    def __init__(self, stream):
        self.stream = stream
        self.last = None
        self.bar = None
        if stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(
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


def run_to_archive(command, job: ExportJob, *, what: str, follow=None) -> None:
    """Run (or, with `follow`, watch) the job; print the archive's location as the last line of
    stdout, or raise CommandError(returncode=1) with the reason."""
    progress = Progress(sys.stderr)
    try:
        job = follow(job, progress) if follow else pipeline.run_inline(job, on_progress=progress)
    except KeyboardInterrupt:
        jobs.job_cancel(job)
        raise CommandError(f"Interrupted; the {what.lower()} was canceled.", returncode=1) from None
    finally:
        progress.close()
    if job.status != ExportJob.Status.SUCCEEDED:
        raise CommandError(f"{what} {job.status}: {job.error or job.step}", returncode=1)
    if job.media_failed:
        sys.stderr.write(f"{job.media_failed} media files are not in the archive; see failures.csv\n")
    command.stdout.write(links.archive_location(job))
