from django.contrib import admin, messages
from django.db.models import Case, Value, When
from django.forms.models import BaseInlineFormSet
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html

from exports import jobs
from exports.models import ExportJob, ExportSchedule, LibraryRecord, MediaFile
from exports.progress import job_title

INLINE_FILES = 100


class FirstMediaFilesFormSet(BaseInlineFormSet):
    """A job can hold thousands of files; the inline shows the failed ones first, then the rest,
    up to INLINE_FILES, and links to the full list."""

    def get_queryset(self):
        if not hasattr(self, "_first_files"):
            failed_first = Case(When(status=MediaFile.Status.FAILED, then=Value(0)), default=Value(1))
            qs = super().get_queryset().order_by(failed_first.asc(), "id")
            self._first_files = list(qs[:INLINE_FILES])
        return self._first_files


class MediaFileInline(admin.TabularInline):
    model = MediaFile
    formset = FirstMediaFilesFormSet
    fields = ["media_id", "kind", "status", "attempts", "size", "last_error"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = f"Media files (failed first, at most {INLINE_FILES} here)"

    def has_add_permission(self, request, obj=None):
        return False


def job_admin_title(job: ExportJob) -> str:
    """ "Reddit export · 4 Dec 2026 · demo" """
    return f"{job_title(job)} · {job.created_at:%-d %b %Y} · {job.owner.get_username()}"


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "uuid",
        "source_display",
        "owner",
        "platform",
        "status",
        "progress",
        "records_count",
        "media_done",
        "media_total",
        "media_failed",
        "archive_size_display",
        "created_at",
    ]
    list_filter = ["status", "source", "platform", "owner"]
    search_fields = ["id", "owner__username", "owner__email"]
    list_display_links = ["title"]
    list_select_related = ["owner", "platform"]
    date_hierarchy = "created_at"
    raw_id_fields = ["owner"]
    inlines = [MediaFileInline]
    actions = ["cancel", "retry_failed", "expire_now"]
    readonly_fields = [
        "id",
        "status",
        "progress",
        "step",
        "error",
        "records_count",
        "pages_fetched",
        "api_units",
        "skipped_records",
        "media_total",
        "media_done",
        "media_failed",
        "media_bytes",
        "media_bytes_expected",
        "media_files_link",
        "archive_name",
        "archive_size",
        "archive_sha256",
        "lease_owner",
        "lease_until",
        "step_attempts",
        "created_at",
        "fetching_at",
        "downloading_at",
        "archiving_at",
        "succeeded_at",
        "failed_at",
        "canceled_at",
        "expired_at",
        "notified_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["id", "owner", "platform", "source", "formats", "include_media", "options"]}),
        ("State", {"fields": ["status", "progress", "step", "error", "notes", "expires_at"]}),
        (
            "Counters",
            {
                "fields": [
                    "records_count",
                    "pages_fetched",
                    "api_units",
                    "skipped_records",
                    "media_total",
                    "media_done",
                    "media_failed",
                    "media_bytes",
                    "media_bytes_expected",
                    "media_files_link",
                ]
            },
        ),
        ("Archive", {"fields": ["archive_name", "archive_size", "archive_sha256"]}),
        ("Lease", {"classes": ["collapse"], "fields": ["lease_owner", "lease_until", "step_attempts"]}),
        (
            "Timestamps",
            {
                "classes": ["collapse"],
                "fields": [
                    "created_at",
                    "fetching_at",
                    "downloading_at",
                    "archiving_at",
                    "succeeded_at",
                    "failed_at",
                    "canceled_at",
                    "expired_at",
                    "notified_at",
                    "updated_at",
                ],
            },
        ),
        ("Profile", {"classes": ["collapse"], "fields": ["account"]}),
    ]

    class Media:
        css = {"all": ["css/admin.css"]}

    def has_add_permission(self, request):
        # Jobs start from the site, the API or the command line, which check what is asked for.
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), "subtitle": job_admin_title(job) if job else None}
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    @admin.display(description="Export", ordering="-created_at")
    def title(self, obj):
        return job_admin_title(obj)

    @admin.display(description="ID")
    def uuid(self, obj):
        return format_html('<span class="uuid">{}</span>', obj.id)

    @admin.display(description="API / archive import", ordering="source")
    def source_display(self, obj):
        return "Archive import" if obj.source == ExportJob.Source.ARCHIVE else "API"

    def get_readonly_fields(self, request, obj=None):
        # What a job was asked for is fixed once it exists; workers read it at every step.
        fixed = ["owner", "platform", "source", "formats", "include_media", "options", "account"] if obj else []
        return [*self.readonly_fields, *fixed]

    @admin.display(description="Archive size", ordering="archive_size")
    def archive_size_display(self, obj):
        return filesizeformat(obj.archive_size) if obj.archive_size is not None else "–"

    @admin.display(description="All media files")
    def media_files_link(self, obj):
        if obj.pk is None:
            return "–"
        url = reverse("admin:exports_mediafile_changelist") + f"?job__id__exact={obj.pk}"
        return format_html('<a href="{}">{} files</a>', url, obj.media_total)

    @admin.action(description="Cancel the selected exports")
    def cancel(self, request, queryset):
        canceled = sum(1 for job in queryset if jobs.job_cancel(job))
        skipped = queryset.count() - canceled
        self.message_user(request, f"Canceled {canceled} export(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} had already finished and were left alone.", messages.WARNING)

    @admin.action(description="Retry failed media files (and rebuild the archive)")
    def retry_failed(self, request, queryset):
        files = sum(jobs.job_retry_failed(job) for job in queryset)
        self.message_user(request, f"Queued {files} failed media file(s) again.", messages.SUCCESS)

    @admin.action(description="Expire now (delete the archive)")
    def expire_now(self, request, queryset):
        expired = sum(1 for job in queryset if jobs.job_expire(job))
        self.message_user(request, f"Expired {expired} export(s); only succeeded exports can expire.", messages.SUCCESS)


@admin.register(MediaFile)
class MediaFileAdmin(admin.ModelAdmin):
    list_display = ["media_id", "job", "kind", "status", "attempts", "size", "content_type", "updated_at"]
    list_filter = ["status", "kind", "job__platform"]
    search_fields = ["media_id", "source_url", "job__id"]
    list_select_related = ["job"]
    raw_id_fields = ["job"]

    class Media:
        css = {"all": ["css/admin.css"]}

    readonly_fields = [
        "size",
        "sha256",
        "content_type",
        "stored_name",
        "archive_path",
        "attempts",
        "last_error",
        "lease_until",
        "updated_at",
    ]


@admin.register(ExportSchedule)
class ExportScheduleAdmin(admin.ModelAdmin):
    list_display = ["owner", "platform", "frequency", "include_media", "enabled", "last_job", "created_at"]
    list_filter = ["frequency", "platform", "enabled"]
    search_fields = ["owner__username", "owner__email"]
    list_select_related = ["owner", "platform", "last_job"]
    raw_id_fields = ["owner", "last_job"]
    readonly_fields = ["periodic_task", "created_at"]


@admin.register(LibraryRecord)
class LibraryRecordAdmin(admin.ModelAdmin):
    list_display = ["external_id", "owner", "platform", "kind", "timestamp", "sources", "last_seen"]
    list_filter = ["platform", "kind"]
    search_fields = ["external_id", "owner__username"]
    list_select_related = ["owner", "platform"]
    readonly_fields = [
        "owner",
        "platform",
        "kind",
        "external_id",
        "data",
        "timestamp",
        "sources",
        "first_seen",
        "last_seen",
    ]
