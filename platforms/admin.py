from django.contrib import admin

from platforms.models import Platform


@admin.register(Platform)
class PlatformAdmin(admin.ModelAdmin):
    list_display = ["slug", "display_name", "enabled", "supports_media", "max_file_size_mb", "export_formats"]
    list_editable = ["enabled"]
    list_filter = ["enabled", "supports_media", "auth_type"]
    search_fields = ["slug", "display_name"]
    fieldsets = [
        (None, {"fields": ["slug", "display_name", "icon", "enabled", "notes"]}),
        ("API", {"fields": ["api_base_url", "token_url", "auth_type", "provider_id", "rate_limit_per_hour"]}),
        (
            "What an export can hold",
            {
                "fields": [
                    "export_formats",
                    "supports_media",
                    "image_formats",
                    "video_formats",
                    "file_formats",
                    "max_file_size_mb",
                    "media_hosts",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # The slug is the primary key that jobs and the extractor registry point at.
        return ["slug"] if obj else []
