import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

# The Platform row of "Everything" exports: every connected platform in one archive (DESIGN §2).
EVERYTHING = "all"


class ExportJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        FETCHING = "fetching", "Fetching"
        DOWNLOADING = "downloading", "Downloading"
        ARCHIVING = "archiving", "Archiving"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"
        EXPIRED = "expired", "Expired"

    class Source(models.TextChoices):
        API = "api", "The platform's API"
        ARCHIVE = "archive", "An official archive the platform gave the user"

    RUNNING = (Status.QUEUED, Status.FETCHING, Status.DOWNLOADING, Status.ARCHIVING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.EXPIRED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs")
    platform = models.ForeignKey("platforms.Platform", on_delete=models.PROTECT, related_name="export_jobs")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    # An "Everything" export (platform `all`) is a parent whose parts are one job per platform;
    # the parts fetch and download, the parent writes the one archive.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="parts")
    # For imports: the uploaded official archive, as stored (deleted once the import is done).
    upload_name = models.CharField(max_length=512, blank=True)
    upload_size = models.BigIntegerField(null=True, blank=True)
    formats = models.JSONField(default=list)
    include_media = models.BooleanField(default=False)
    # date_from, date_to (YYYY-MM-DD), media_types (list), max_records (int)
    options = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    notes = models.JSONField(default=list, blank=True, help_text="What the platform could not give, said plainly.")

    account = models.JSONField(null=True, blank=True, help_text="The profile record, as the platform gave it.")
    records_count = models.PositiveIntegerField(default=0)
    new_records = models.PositiveIntegerField(default=0, help_text="Records the library did not have before.")
    media_reused = models.PositiveIntegerField(default=0, help_text="Files taken from the library, not downloaded.")
    media_reused_bytes = models.BigIntegerField(default=0)
    pages_fetched = models.PositiveIntegerField(default=0)
    skipped_records = models.JSONField(default=list, blank=True)
    api_units = models.PositiveIntegerField(default=0)

    archive_name = models.CharField(max_length=255, blank=True)
    archive_size = models.BigIntegerField(null=True, blank=True)
    archive_sha256 = models.CharField(max_length=64, blank=True)
    media_total = models.PositiveIntegerField(default=0)
    media_done = models.PositiveIntegerField(default=0)
    media_failed = models.PositiveIntegerField(default=0)
    media_bytes = models.BigIntegerField(default=0)
    media_bytes_expected = models.BigIntegerField(
        default=0, help_text="The files' sizes as the platform states or implies them, where it does."
    )
    media_sized = models.PositiveIntegerField(default=0, help_text="How many files that estimate covers.")
    # A retry of failed files: how many were retried, and the bytes already kept when it began,
    # so its bar and speed count the retry alone.
    retry_total = models.PositiveIntegerField(default=0)
    download_base_bytes = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)

    # The claim on the current step (DESIGN §1): who holds it, until when, how often it was tried.
    lease_owner = models.CharField(max_length=128, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    step_attempts = models.PositiveSmallIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    fetching_at = models.DateTimeField(null=True, blank=True)
    downloading_at = models.DateTimeField(null=True, blank=True)
    archiving_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"]), models.Index(fields=["status", "lease_until"])]

    def __str__(self):
        return f"{self.platform_id} export {self.id}"

    def get_absolute_url(self):
        return reverse("exports:detail", args=[self.id])

    @property
    def is_running(self) -> bool:
        return self.status in self.RUNNING

    @property
    def base_name(self) -> str:
        return f"{self.platform_id}-export-{self.id}"

    @property
    def is_everything(self) -> bool:
        return self.platform_id == EVERYTHING

    @property
    def finished_at(self):
        return self.succeeded_at or self.failed_at or self.canceled_at


class MediaFile(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"
        FILE = "file", "File"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DOWNLOADING = "downloading", "Downloading"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    TERMINAL = (Status.DONE, Status.FAILED, Status.SKIPPED)

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="media_files")
    media_id = models.CharField(max_length=255)
    source_url = models.URLField(max_length=4096)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    ext = models.CharField(max_length=16, blank=True)
    record_ids = models.JSONField(default=list)
    timestamp = models.CharField(max_length=32, blank=True)
    caption = models.TextField(blank=True)
    extra = models.JSONField(default=dict, blank=True)

    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    content_type = models.CharField(max_length=128, blank=True)
    stored_name = models.CharField(max_length=512, blank=True, help_text="Content-addressed name in storage.")
    archive_path = models.CharField(max_length=512, blank=True, help_text="Path inside the ZIP.")

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=128, blank=True, help_text="The worker downloading it.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["job", "media_id"], name="unique_media_per_job")]

    def __str__(self):
        return f"{self.kind} {self.media_id}"


class ExportRecord(models.Model):
    """One record as the platform returned it, kept per job so the archive step can be re-run."""

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="records")
    resource = models.CharField(max_length=32)
    external_id = models.CharField(max_length=255)
    position = models.PositiveIntegerField()
    timestamp = models.CharField(max_length=32, blank=True)
    data = models.JSONField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["job", "resource", "external_id"], name="unique_record_per_job")]


class LibraryRecord(models.Model):
    """A user's record, kept across jobs: what every export and import of it has seen (DESIGN §1)."""

    class Source(models.TextChoices):
        API = "api", "API"
        ARCHIVE = "archive", "Official archive"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="library_records")
    platform = models.ForeignKey("platforms.Platform", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, help_text="The resource the record comes from.")
    external_id = models.CharField(max_length=255)
    data = models.JSONField()
    timestamp = models.CharField(max_length=32, blank=True)
    sources = models.JSONField(default=list)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "platform", "kind", "external_id"], name="unique_library_record")
        ]
        indexes = [models.Index(fields=["owner", "platform", "timestamp"])]

    def __str__(self):
        return f"{self.platform_id} {self.kind} {self.external_id}"


class LibraryMedia(models.Model):
    """A verified media file of a user's, stored once by checksum and reused by later exports."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="library_media")
    platform = models.ForeignKey("platforms.Platform", on_delete=models.CASCADE, related_name="+")
    media_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=8)
    ext = models.CharField(max_length=16, blank=True)
    source_url = models.URLField(max_length=4096, blank=True)
    record_ids = models.JSONField(default=list)
    timestamp = models.CharField(max_length=32, blank=True)
    caption = models.TextField(blank=True)
    extra = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=128, blank=True)
    stored_name = models.CharField(max_length=512)
    sources = models.JSONField(default=list)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "platform", "media_id"], name="unique_library_media")]

    def __str__(self):
        return f"{self.platform_id} {self.kind} {self.media_id}"


class LibraryState(models.Model):
    """Per user and platform: which resources the library holds whole (fetched to their end
    without filters), so "only what is new" may stop at the first known page of those only."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    platform = models.ForeignKey("platforms.Platform", on_delete=models.CASCADE, related_name="+")
    complete_resources = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "platform"], name="unique_library_state")]


class ExportSchedule(models.Model):
    """A repeat export: only what is new, on a schedule kept in Celery beat's database tables."""

    class Frequency(models.TextChoices):
        DAILY = "daily", "Every day"
        WEEKLY = "weekly", "Every week"
        MONTHLY = "monthly", "Every month"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_schedules")
    platform = models.ForeignKey("platforms.Platform", on_delete=models.CASCADE, related_name="+")
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.WEEKLY)
    include_media = models.BooleanField(default=True)
    formats = models.JSONField(default=list)
    # Given to each run's job: `destinations` (the ids chosen, when chosen), `age_recipient` and,
    # for a passphrase, `age_key` (the key file it protects; the passphrase is never kept).
    options = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_job = models.ForeignKey(ExportJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "platform"], name="one_schedule_per_platform")]

    def __str__(self):
        return f"{self.get_frequency_display()} {self.platform_id} export of {self.owner}"


class Upload(models.Model):
    """An official archive arriving from the browser in chunks; resumable after a dropped
    connection, it becomes an import job once every byte is here. The parts of a download split in
    several are uploads of their own that become one job."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    platform = models.ForeignKey("platforms.Platform", on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    size = models.BigIntegerField()
    received = models.BigIntegerField(default=0)
    job = models.ForeignKey(ExportJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="uploads")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.filename} ({self.received}/{self.size})"

    @property
    def complete(self) -> bool:
        return self.received == self.size
