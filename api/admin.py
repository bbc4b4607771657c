from django.contrib import admin

from api.models import ApiToken, ArchiveDelivery, Destination, WebhookDelivery, WebhookEndpoint


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "prefix", "scopes", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["prefix", "token_hash", "last_used_at", "created_at"]
    raw_id_fields = ["owner"]


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ["event", "status", "response_code", "attempts", "last_error", "created_at", "delivered_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-created_at")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "owner", "events", "enabled", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "owner__username"]
    list_select_related = ["owner"]
    # The signing secret stays out of every admin form.
    exclude = ["secret"]
    raw_id_fields = ["owner"]
    inlines = [DeliveryInline]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "endpoint", "status", "response_code", "attempts", "last_attempt_at", "created_at"]
    list_filter = ["status", "event"]
    search_fields = ["message_id", "endpoint__url", "endpoint__owner__username"]
    list_select_related = ["endpoint"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "kind", "endpoint_url", "bucket", "prefix", "created_at"]
    search_fields = ["name", "bucket", "owner__username"]
    list_select_related = ["owner"]
    exclude = ["secret_key"]
    raw_id_fields = ["owner"]


@admin.register(ArchiveDelivery)
class ArchiveDeliveryAdmin(admin.ModelAdmin):
    list_display = ["job", "destination", "status", "bytes_sent", "attempts", "location", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["job__id", "destination__name", "destination__owner__username"]
    list_select_related = ["job", "destination"]
    readonly_fields = [f.name for f in ArchiveDelivery._meta.fields]
