from django.contrib import admin

from platforms.budget import budget_for
from platforms.models import Platform
from platforms.outage import health_for


@admin.register(Platform)
class PlatformAdmin(admin.ModelAdmin):
    list_display = ["slug", "display_name", "enabled", "supports_media", "max_file_size_mb", "budget_now"]
    list_editable = ["enabled"]
    list_filter = ["enabled", "supports_media", "auth_type"]
    search_fields = ["slug", "display_name"]
    fieldsets = [
        (None, {"fields": ["slug", "display_name", "icon", "enabled", "notes"]}),
        ("API", {"fields": ["api_base_url", "token_url", "auth_type", "provider_id"]}),
        (
            "Request budget (shared by every user's export)",
            {"fields": ["rate_limit_per_hour", "rate_window_seconds", "daily_units", "budget_now"]},
        ),
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
        return ["slug", "budget_now"] if obj else ["budget_now"]

    @admin.display(description="Budget now")
    def budget_now(self, obj: Platform) -> str:
        """Used and left in the current window, when it frees up, users waiting; units of the day."""
        budget = budget_for(obj.slug) if obj and obj.pk else None
        if budget is None:
            return "—"
        state = budget.state()
        if state is None:
            return "unreachable (Redis is down?)"
        text = (
            f"{state['used']:,} used, {state['left']:,} left of {state['requests']:,} per {state['window_seconds']:,} s"
        )
        if state["resets_at"]:
            text += f"; frees up at {state['resets_at']:%H:%M:%S} UTC"
        text += f"; {state['waiting']} waiting"
        if state["held_until"]:
            text += f"; held by the platform until {state['held_until']:%H:%M:%S} UTC"
        if state["daily_units"]:
            text += f"; units today {state['units_used']:,} of {state['daily_units']:,}, reset {state['units_reset_at']:%H:%M} UTC"
        if state["spent_until"]:
            text += " (spent: exports are waiting)"
        pause = health_for(obj.slug).paused()
        if pause is not None:
            text += f"; not answering: paused for every export until {pause.until_text}"
        return text
