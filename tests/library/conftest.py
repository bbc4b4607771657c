import hashlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


@pytest.fixture
def shelve(platforms):
    """Put records (and their media files) into a user's library through the library's writer,
    as an export would: `shelve(user, "reddit", [record, ...], media=[file, ...])`.
    A record: {"kind", "id", "data", "timestamp"}; a file: {"media_id", "record_ids", "kind",
    "ext", "caption", "body" (bytes), "content_type"}."""
    from exports import library
    from exports.models import ExportJob, ExportRecord, MediaFile

    def add(user, platform: str, records: list[dict], *, media: list[dict] = ()):
        job = ExportJob.objects.create(owner=user, platform_id=platform)
        rows = [
            ExportRecord(
                job=job,
                resource=r.get("kind", "submitted"),
                external_id=r["id"],
                position=i,
                timestamp=r.get("timestamp", ""),
                data=r.get("data", {}),
            )
            for i, r in enumerate(records)
        ]
        library.records_upsert(job, rows)
        for item in media:
            body = item.get("body", b"\x89PNG\r\n\x1a\n" + item["media_id"].encode())
            digest = hashlib.sha256(body).hexdigest()
            name = f"media/{user.id}/{digest[:2]}/{digest}"
            if not default_storage.exists(name):
                default_storage.save(name, ContentFile(body))
            MediaFile.objects.create(
                job=job,
                media_id=item["media_id"],
                source_url=f"https://example.com/{item['media_id']}",
                kind=item.get("kind", "image"),
                ext=item.get("ext", "png"),
                record_ids=item["record_ids"],
                caption=item.get("caption", ""),
                size=len(body),
                sha256=digest,
                content_type=item.get("content_type", "image/png"),
                stored_name=name,
                status=MediaFile.Status.DONE,
            )
        library.media_sync(job)
        return job

    return add
