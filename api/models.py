from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A personal access token for scripts. Only its SHA-256 is kept: the token is shown once."""

    class Scope(models.TextChoices):
        READ = "read", "Read exports, the library and webhooks"
        EXPORT = "export", "Start, cancel and retry exports; manage webhooks"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters, so a person can tell tokens apart.")
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        # ninja's per-token rate limit keys on this text.
        return f"API token {self.pk} ({self.prefix}…) of {self.owner_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class WebhookEndpoint(models.Model):
    class Event(models.TextChoices):
        SUCCEEDED = "export.succeeded", "An export finished"
        FAILED = "export.failed", "An export failed"
        NEW_ITEMS = "schedule.new_items", "A scheduled export found new items"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2048)
    events = models.JSONField(default=list)
    # "whsec_…" (Standard Webhooks), encrypted at rest like the platform tokens.
    secret = models.TextField()
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The `webhook-id` header: the same for every attempt of one message, so receivers can dedupe.
    message_id = models.CharField(max_length=120)
    event = models.CharField(max_length=32)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "message_id"], name="one_delivery_per_message"),
        ]

    def __str__(self):
        return f"{self.event} to {self.endpoint_id} ({self.status})"


class DestinationQuerySet(models.QuerySet):
    def every_export(self):
        return self.filter(mode=Destination.Mode.EVERY)


class Destination(models.Model):
    """A user's own storage that finished archives are copied to."""

    class Kind(models.TextChoices):
        S3 = "s3", "S3-compatible storage (AWS, MinIO, Backblaze B2, Wasabi…)"
        WEBDAV = "webdav", "WebDAV (Nextcloud, ownCloud, any WebDAV server)"
        RCLONE = "rclone", "An rclone remote (Dropbox, Google Drive, OneDrive and 70 more)"

    class Mode(models.TextChoices):
        EVERY = "every", "Every export"
        CHOSEN = "chosen", "Only the exports and schedules I choose it for"

    SHORT_KINDS = {Kind.S3: "S3", Kind.WEBDAV: "WebDAV", Kind.RCLONE: "rclone"}

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="destinations")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.S3)
    # S3: the endpoint (empty for AWS); WebDAV: the folder URL.
    endpoint_url = models.URLField(max_length=500, blank=True)
    region = models.CharField(max_length=64, blank=True)
    bucket = models.CharField(max_length=255, blank=True)
    # The folder inside the bucket or WebDAV URL; for rclone "remote:path".
    prefix = models.CharField(max_length=500, blank=True)
    # S3: the access key; WebDAV: the user name.
    access_key = models.CharField(max_length=255, blank=True)
    # S3: the secret key; WebDAV: the password; rclone: the config file. Encrypted at rest.
    secret_key = models.TextField()
    # "every": each finished export is copied here unless the person unticks it; "chosen": only
    # when ticked on the export or schedule form (or named by the API).
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.EVERY)
    # An age or SSH public key: the archive is encrypted to it as it is streamed here. A public key
    # only (no passphrase): nothing secret needs keeping for it.
    age_recipient = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DestinationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def every_export(self) -> bool:
        return self.mode == self.Mode.EVERY

    @property
    def label(self) -> str:
        """ "My NAS (WebDAV)", as the forms and emails name it."""
        return f"{self.name} ({self.SHORT_KINDS.get(self.kind, self.kind)})"


class ArchiveDelivery(models.Model):
    """One finished archive copied to one destination."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        UPLOADING = "uploading", "Uploading"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    job = models.ForeignKey("exports.ExportJob", on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="deliveries")
    # The archive as it was when queued: a rebuilt archive (failed files retried) is delivered again.
    archive_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    bytes_sent = models.BigIntegerField(default=0)
    location = models.CharField(max_length=1200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "destination", "archive_sha256"], name="one_delivery_per_archive")
        ]

    def __str__(self):
        return f"{self.job_id} to {self.destination_id} ({self.status})"
