"""The shapes the API reads and writes (its OpenAPI schema is generated from these)."""

from __future__ import annotations

from typing import Annotated

from ninja import Field, Schema
from pydantic import ConfigDict, StringConstraints

from platforms.registry import importer_slugs, slugs

# Dates are written YYYY-MM-DD, as on the form; a number is not a date.
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
IsoDate = Annotated[str, StringConstraints(pattern=DATE_PATTERN)]


class Error(Schema):
    detail: str
    field: str | None = None


class PlatformOut(Schema):
    slug: str
    name: str
    enabled: bool
    available: bool
    supports_media: bool
    media_kinds: list[str]
    export_formats: list[str]
    connection: str = Field(description='"connected", "expired" (reconnect on the site) or "missing".')


class ConnectionOut(Schema):
    platform: str
    state: str
    account: str


class MediaCounts(Schema):
    total: int
    done: int
    failed: int
    bytes: int
    expected_bytes: int | None = Field(None, description="What the files weigh, where the platform gave sizes.")
    expected_files: int = Field(0, description="How many files that estimate covers.")
    bytes_per_second: int | None = Field(None, description="Download speed since the download began.")
    retrying: int = Field(0, description="Failed files being tried again (0 outside a retry).")


class LibraryCounts(Schema):
    new_records: int
    reused: int
    reused_bytes: int


class Failure(Schema):
    media_id: str
    reason: str


class DeliveryStatus(Schema):
    destination: str
    status: str
    bytes_sent: int
    location: str
    error: str


class JobOut(Schema):
    """The job as `/exports/<id>/status.json` gives it, plus its id."""

    id: str
    platform: str
    status: str
    progress: int = Field(ge=0, le=100)
    step: str
    records: int
    media: MediaCounts
    library: LibraryCounts
    failures: list[Failure]
    notes: list
    download_url: str | None
    archive_size: int | None
    expires_at: str | None
    error: str | None
    encrypted: bool = False
    deliveries: list[DeliveryStatus] = Field(default=[], description="Copies to your own storage.")


class JobList(Schema):
    items: list[JobOut]
    next_cursor: str | None


class ExportIn(Schema):
    """The export form's fields (DESIGN §6)."""

    # No quiet coercions ("1" for true, 0 for a date): a script's mistake is answered with 400.
    model_config = ConfigDict(strict=True)

    platform: str = Field(
        min_length=1,
        max_length=32,
        description='A platform slug, or "all".',
        json_schema_extra={"enum": [*slugs(), "all"]},
    )
    formats: list[str] = Field(default=["json"], max_length=4, description="json, csv")
    include_media: bool = False
    date_from: IsoDate | None = None
    date_to: IsoDate | None = None
    media_types: list[str] = Field(default=[], max_length=3, description="image, video, file")
    max_records: int | None = Field(default=None, ge=1, le=10_000_000)
    only_new: bool = False
    age_recipient: str | None = Field(
        default=None, max_length=2000, description="Encrypt the archive to this age (age1…) or SSH public key."
    )
    age_passphrase: str | None = Field(
        default=None,
        max_length=1000,
        description="Or encrypt it with this passphrase (not stored; get the key file at /exports/<id>/key).",
    )
    destinations: list[int] | None = Field(
        default=None,
        max_length=100,
        description="Ids of your own storage (/accounts/destinations/) to copy the archive to. Left out: every "
        'destination set to "every export"; [] for none.',
    )


class RetryOut(Schema):
    retried: int
    job: JobOut


class LibraryItem(Schema):
    platform: str
    kind: str
    id: str
    timestamp: str | None
    sources: list[str]
    url: str
    data: dict


class LibraryPage(Schema):
    items: list[LibraryItem]
    next_cursor: str | None


class WebhookIn(Schema):
    model_config = ConfigDict(strict=True)

    url: str = Field(max_length=2048)
    events: list[str] = Field(max_length=3)


class WebhookOut(Schema):
    id: int
    url: str
    events: list[str]
    enabled: bool
    created_at: str


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret (Standard Webhooks). Shown only in this answer.")


class DeliveryOut(Schema):
    id: str
    event: str
    status: str
    attempts: int
    response_code: int | None
    error: str
    created_at: str
    delivered_at: str | None


class UploadIn(Schema):
    model_config = ConfigDict(strict=True)

    platform: str = Field(min_length=1, max_length=32, json_schema_extra={"enum": importer_slugs()})
    filename: str = Field(default="archive.zip", min_length=1, max_length=255)
    size: int = Field(ge=1, le=10**13)
    tail: str = Field(
        default="",
        max_length=1_400_000,
        description="The file's last bytes (up to 1 MiB), base64: a ZIP's directory, read when the first piece "
        "arrives, so a damaged archive or another platform's is refused before the rest is sent.",
    )


class ImportFinishIn(Schema):
    model_config = ConfigDict(strict=True)

    parts: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="The other uploads of the same download, in order (Takeout's `-002.zip`, `-003.zip`, …): "
        "one import reads them all.",
    )
    skip_sensitive: bool = Field(default=False, description="Leave out messages and history.")


class UploadOut(Schema):
    id: str
    platform: str
    size: int
    received: int
    chunk_size: int = Field(description="Send pieces of at most this many bytes.")
    job: str | None = Field(description="The import job, once the upload is finished.")
