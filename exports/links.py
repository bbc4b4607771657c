"""Where a finished export's archive is, and the signed, expiring links that reach it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.urls import reverse

from exports.conf import setting
from exports.models import ExportJob

LINK_SALT = "starexport.download-link"


def archive_location(job: ExportJob) -> str:
    """What the command line prints: an absolute path (local) or a presigned URL (S3)."""
    try:
        return default_storage.path(job.archive_name)
    except NotImplementedError:
        return default_storage.url(job.archive_name)


def download_link(job: ExportJob, *, absolute: bool = False) -> str:
    """A signed, expiring link to the archive. Opening it still requires signing in as the owner."""
    token = signing.TimestampSigner(salt=LINK_SALT).sign(str(job.id))
    path = f"{reverse('exports:download', args=[job.id])}?link={token}"
    return f"{settings.SITE_URL}{path}" if absolute else path


@dataclass
class LinkProblem:
    message: str
    status: int  # 410 for a link of ours that ran out of time, 400 for anything else


def download_link_check(job: ExportJob, token: str) -> LinkProblem | None:
    """None when the link is good; otherwise what is wrong with it, for a person to read."""
    signer = signing.TimestampSigner(salt=LINK_SALT)
    try:
        value = signer.unsign(token, max_age=timedelta(days=setting("LINK_DAYS")))
    except signing.SignatureExpired:
        return LinkProblem(
            "This download link has expired. Open the export from your list of exports to get a new one.", 410
        )
    except (signing.BadSignature, ValueError):
        return LinkProblem("This download link is not valid (it may have been altered or cut short when copied).", 400)
    if value != str(job.id):
        return LinkProblem("This download link belongs to another export.", 400)
    return None
