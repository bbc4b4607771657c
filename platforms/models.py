from django.conf import settings
from django.db import models


class Platform(models.Model):
    """A platform's capabilities. Defaults come from a data migration; operators edit them."""

    class AuthType(models.TextChoices):
        OAUTH2 = "oauth2", "OAuth 2.0"
        OAUTH2_PKCE = "oauth2_pkce", "OAuth 2.0 with PKCE"

    slug = models.SlugField(primary_key=True, max_length=32)
    display_name = models.CharField(max_length=64)
    icon = models.CharField(max_length=64, blank=True, help_text="Static path of the platform's icon.")
    api_base_url = models.URLField(max_length=255)
    token_url = models.URLField(max_length=255, blank=True, help_text="OAuth token endpoint, for refreshing tokens.")
    auth_type = models.CharField(max_length=16, choices=AuthType.choices, default=AuthType.OAUTH2)
    provider_id = models.CharField(max_length=32, help_text="The allauth provider that connects it.")
    export_formats = models.JSONField(default=list, help_text='Metadata formats, e.g. ["json", "csv"].')
    rate_limit_per_hour = models.PositiveIntegerField(
        default=5000, help_text="API requests the platform allows this site's app, shared by every user's export."
    )
    rate_window_seconds = models.PositiveIntegerField(
        default=3600,
        help_text="The window the platform counts requests in (Reddit: 600 s): at most "
        "rate_limit_per_hour × window / 3600 requests in any such window.",
    )
    daily_units = models.PositiveIntegerField(
        default=0, help_text="Quota units the app may spend per day (YouTube: 10,000); 0 where there are none."
    )
    supports_media = models.BooleanField(default=True)
    image_formats = models.JSONField(default=list, blank=True)
    video_formats = models.JSONField(default=list, blank=True)
    file_formats = models.JSONField(default=list, blank=True)
    max_file_size_mb = models.PositiveIntegerField(default=1024)
    media_hosts = models.JSONField(
        default=list, blank=True, help_text="Host names media may be fetched from (suffix match)."
    )
    notes = models.TextField(blank=True, help_text="Shown on the export form: what the API can and cannot give.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self):
        return self.display_name

    @property
    def base_url(self) -> str:
        """The API base, or this platform's prefix on the sandbox when the sandbox is configured."""
        if settings.STAREXPORT_SANDBOX:
            return f"{settings.STAREXPORT_SANDBOX}/{self.slug}"
        return self.api_base_url.rstrip("/")

    @property
    def max_file_size(self) -> int:
        return self.max_file_size_mb * 1024 * 1024

    @property
    def media_kinds(self) -> list[str]:
        kinds = []
        if self.image_formats:
            kinds.append("image")
        if self.video_formats:
            kinds.append("video")
        if self.file_formats:
            kinds.append("file")
        return kinds if self.supports_media else []

    def allowed_formats(self, kind: str) -> list[str]:
        return {"image": self.image_formats, "video": self.video_formats, "file": self.file_formats}.get(kind, [])
