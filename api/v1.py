"""The REST API for scripts, /api/v1/ (DESIGN §6), on django-ninja: its OpenAPI 3 schema is
generated from the type hints below and served at /api/v1/openapi.json.

Views stay thin: they check the token's scope and call the same services as the site, so the API
refuses what the site refuses, with the same words.
"""

from __future__ import annotations

import base64
from uuid import UUID

from allauth.socialaccount.models import SocialAccount
from django.core import signing
from django.core.files.storage import default_storage
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import Http404, HttpResponseRedirect
from django_ratelimit.core import get_usage, is_ratelimited
from ninja import NinjaAPI, Query, Status
from ninja.errors import HttpError, ValidationError
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from accounts.tokens import connection_state
from accounts.views import account_label
from api import schemas, webhooks
from api.models import WebhookDelivery, WebhookEndpoint
from api.ranges import ranged_file_response
from api.tokens import api_token_authenticate
from api.views import key_file_response
from exports import conf, jobs, selectors, uploads
from exports.forms import ExportForm
from exports.models import EVERYTHING, ExportJob, LibraryMedia, LibraryRecord, Upload
from platforms.models import Platform
from platforms.registry import available


class BearerToken(HttpBearer):
    """`Authorization: Bearer <personal token>`; the token's owner becomes request.user."""

    def authenticate(self, request, token):
        row = api_token_authenticate(token)
        if row is not None:
            request.user = row.owner
        return row


class TokenRateThrottle(BaseThrottle):
    """Requests per token, counted atomically in the cache by django-ratelimit (the site's limiter)."""

    def allow_request(self, request) -> bool:
        usage = get_usage(
            request,
            group="api.v1",
            key=lambda group, req: str(req.auth.pk),
            rate=lambda group, req: conf.setting("API_RATE"),
            increment=True,
        )
        self.time_left = usage["time_left"] if usage else None
        return not (usage and usage["should_limit"])

    def wait(self) -> float | None:
        return self.time_left


api = NinjaAPI(
    title="Star Export API",
    version="1",
    description="Export your content from social platforms from scripts. See docs/api.md.",
    urls_namespace="api-v1",
    auth=BearerToken(),
    throttle=[TokenRateThrottle()],
    docs_url="/docs",
)

# Every answer that is not the one asked for has the same shape: {"detail": ..., "field": ...}.
ERRORS = {400: schemas.Error, 401: schemas.Error, 403: schemas.Error, 404: schemas.Error, 429: schemas.Error}


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    where = [str(part) for part in first.get("loc", []) if part not in ("body", "query", "path", "payload")]
    message = first.get("msg", "Bad request")
    return api.create_response(
        request, {"detail": f"{'.'.join(where) + ': ' if where else ''}{message}", "field": where[0] if where else None},
        status=400,
    )  # fmt: skip


def scope_required(request, scope: str) -> None:
    # "export" includes "read": a script that starts exports may watch them.
    scopes = request.auth.scopes
    if scope not in scopes and not (scope == "read" and "export" in scopes):
        raise HttpError(403, f"This token lacks the {scope!r} scope.")


def job_of(request, job_id) -> ExportJob:
    scope_required(request, "read")
    return selectors.job_for_owner(request.user, job_id)


def job_out(request, job: ExportJob) -> dict:
    url = None
    if job.status == ExportJob.Status.SUCCEEDED and job.archive_name:
        url = request.build_absolute_uri(f"/api/v1/exports/{job.id}/archive")
    payload = selectors.job_status_payload(job, download_url=url)
    payload["encrypted"] = job.archive_name.endswith(".age")
    payload["deliveries"] = [
        {
            "destination": d.destination.name,
            "status": d.status,
            "bytes_sent": d.bytes_sent,
            "location": d.location,
            "error": d.error,
        }
        for d in job.deliveries.select_related("destination")
    ]
    return payload


def cursor_dump(kind: str, *values) -> str:
    return signing.dumps(list(values), salt=f"api.cursor.{kind}", compress=True)


def cursor_load(kind: str, cursor: str) -> list:
    try:
        return signing.loads(cursor, salt=f"api.cursor.{kind}")
    except signing.BadSignature:
        raise HttpError(400, "This cursor is not one this API gave out.") from None


# --- platforms and connections -------------------------------------------------------------------
@api.get("/platforms", response={200: list[schemas.PlatformOut], **ERRORS}, tags=["platforms"])
def platform_list(request):
    """The platforms this server exports, and whether you are connected to each."""
    scope_required(request, "read")
    return [
        {
            "slug": p.slug,
            "name": p.display_name,
            "enabled": p.enabled,
            "available": available(p.slug),
            "supports_media": p.supports_media,
            "media_kinds": p.media_kinds,
            "export_formats": p.export_formats,
            "connection": connection_state(request.user, p),
        }
        for p in Platform.objects.filter(enabled=True)
    ]


@api.get("/connections", response={200: list[schemas.ConnectionOut], **ERRORS}, tags=["platforms"])
def connection_list(request):
    """Your connected accounts (connect them on the site: OAuth needs a browser)."""
    scope_required(request, "read")
    accounts = {a.provider: a for a in SocialAccount.objects.filter(user=request.user)}
    out = []
    for platform in Platform.objects.filter(enabled=True):
        account = accounts.get(platform.provider_id)
        if account is not None:
            state = connection_state(request.user, platform)
            out.append({"platform": platform.slug, "state": state, "account": account_label(account)})
    return out


# --- exports -------------------------------------------------------------------------------------
@api.get("/exports", response={200: schemas.JobList, **ERRORS}, tags=["exports"])
def export_list(
    request,
    platform: str = "",
    status: str = "",
    cursor: str = "",
    limit: int = Query(25, ge=1, le=100),
):
    """Your exports and imports, newest first, `limit` at a time; pass `next_cursor` back for more."""
    scope_required(request, "read")
    found = selectors.jobs_for_owner(request.user, platform=platform or None, status=status or None)
    found = found.order_by("-created_at", "-id")
    if cursor:
        created, job_id = cursor_load("exports", cursor)
        found = found.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=job_id))
    page = list(found[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    last = page[-1] if page else None
    return {
        "items": [job_out(request, job) for job in page],
        "next_cursor": cursor_dump("exports", last.created_at.isoformat(), str(last.id)) if more else None,
    }


def links_to(*operations: str, name: str) -> dict:
    """OpenAPI links from a created object to what can be done with it (clients and schemathesis'
    stateful tests follow them)."""
    return {
        "responses": {
            201: {
                "links": {
                    op: {"operationId": f"api_v1_{op}", "parameters": {name: "$response.body#/id"}} for op in operations
                }
            }
        }
    }


@api.post(
    "/exports",
    response={201: schemas.JobOut, **ERRORS},
    # Not to the archive: a just-created export has none until it succeeds (that answer is a 404).
    openapi_extra=links_to("export_detail", "export_cancel", "export_retry", name="job_id"),
    tags=["exports"],
)
def export_create(request, payload: schemas.ExportIn):
    """Start an export; the body takes the export form's field names."""
    scope_required(request, "export")
    # "all": every connected platform in one archive (the Everything export).
    offered = Platform.objects.filter(Q(enabled=True) | Q(slug=EVERYTHING))
    platform = offered.filter(slug=payload.platform).first()
    data = payload.model_dump()
    data["destinations_shown"] = payload.destinations is not None  # left out: the usual destinations
    form = ExportForm(data=data, platform=platform, user=request.user)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        return Status(400, {"detail": f"{field}: {errors[0]}", "field": field})
    if is_ratelimited(request, group="exports.create", key="user", rate=conf.setting("CREATE_RATE"), increment=True):
        raise HttpError(429, "You have started many exports in a short time; wait a while before the next one.")
    try:
        job = jobs.export_job_create(owner=request.user, **form.export_arguments())
    except jobs.ExportRequestError as exc:
        return Status(400, {"detail": exc.message, "field": exc.field})
    return Status(201, job_out(request, job))


@api.get("/exports/{job_id}", response={200: schemas.JobOut, **ERRORS}, tags=["exports"])
def export_detail(request, job_id: UUID):
    """One export, as /exports/<id>/status.json gives it."""
    return job_out(request, job_of(request, job_id))


@api.post("/exports/{job_id}/cancel", response={200: schemas.JobOut, 409: schemas.Error, **ERRORS}, tags=["exports"])
def export_cancel(request, job_id: UUID):
    """Cancel a running export; 409 when it had already finished."""
    scope_required(request, "export")
    job = selectors.job_for_owner(request.user, job_id)
    if not jobs.job_cancel(job):
        return Status(409, {"detail": f"The export had already finished ({job.get_status_display().lower()})."})
    return job_out(request, job)


@api.post("/exports/{job_id}/retry", response={200: schemas.RetryOut, 409: schemas.Error, **ERRORS}, tags=["exports"])
def export_retry(request, job_id: UUID):
    """Try the failed media files of a finished export again and rebuild its archive."""
    scope_required(request, "export")
    job = selectors.job_for_owner(request.user, job_id)
    count = jobs.job_retry_failed(job)
    if not count:
        return Status(409, {"detail": "There is nothing to retry: the export has no failed files or has not finished."})
    return {"retried": count, "job": job_out(request, job)}


ARCHIVE_RESPONSES = {
    200: {
        "description": "The whole archive (a ZIP, or an age-encrypted ZIP).",
        "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    206: {
        "description": "The byte range asked for with `Range: bytes=first-last`.",
        "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    302: {"description": "On object storage: a short-lived presigned URL (which honours Range too)."},
    416: {"description": "The range lies outside the archive."},
}


@api.get(
    "/exports/{job_id}/archive",
    response={404: schemas.Error, 400: schemas.Error, 401: schemas.Error, 403: schemas.Error, 429: schemas.Error},
    openapi_extra={"responses": ARCHIVE_RESPONSES},
    tags=["exports"],
)
def export_archive(request, job_id: UUID):
    """The archive, streamed; `Range` resumes a broken download."""
    job = job_of(request, job_id)
    if job.status != ExportJob.Status.SUCCEEDED or not job.archive_name:
        return Status(404, {"detail": f"This export has no archive ({job.get_status_display().lower()})."})
    try:
        default_storage.path(job.archive_name)
    except NotImplementedError:
        return HttpResponseRedirect(default_storage.url(job.archive_name))
    if not default_storage.exists(job.archive_name):
        return Status(404, {"detail": "The archive is no longer stored."})
    encrypted = job.archive_name.endswith(".age")
    return ranged_file_response(
        request,
        default_storage.open(job.archive_name, "rb"),
        size=default_storage.size(job.archive_name),
        filename=f"{job.base_name}.zip" + (".age" if encrypted else ""),
        content_type="application/octet-stream" if encrypted else "application/zip",
    )


@api.get(
    "/exports/{job_id}/key",
    response={404: schemas.Error, 400: schemas.Error, 401: schemas.Error, 403: schemas.Error, 429: schemas.Error},
    openapi_extra={
        "responses": {
            200: {
                "description": "The archive's key file, itself encrypted with the passphrase (an age identity).",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
    tags=["exports"],
)
def export_key(request, job_id: UUID):
    """For an archive encrypted with a passphrase: `age -d -i <this file> archive.zip.age`."""
    return key_file_response(job_of(request, job_id))


# --- imports: an official archive uploaded in pieces, as the Import page does --------------------
def upload_out(upload: Upload) -> dict:
    return {
        "id": str(upload.id),
        "platform": upload.platform_id,
        "size": upload.size,
        "received": upload.received,
        "chunk_size": conf.setting("UPLOAD_CHUNK_BYTES"),
        "job": str(upload.job_id) if upload.job_id else None,
    }


def upload_of(request, upload_id) -> Upload:
    upload = Upload.objects.filter(id=upload_id, owner=request.user).first()
    if upload is None:
        raise Http404
    return upload


@api.post(
    "/imports",
    response={201: schemas.UploadOut, 413: schemas.Error, 507: schemas.Error, **ERRORS},
    openapi_extra=links_to("import_detail", "import_piece", "import_finish", name="upload_id"),
    tags=["imports"],
)
def import_start(request, payload: schemas.UploadIn):
    """Announce an official archive (X archive, Takeout, …) you are about to upload in pieces."""
    scope_required(request, "export")
    try:
        tail = base64.b64decode(payload.tail, validate=True)
    except ValueError:  # binascii.Error, or characters outside ASCII
        return Status(400, {"detail": "The tail must be base64.", "field": "tail"})
    try:
        upload = uploads.upload_create(
            owner=request.user, platform_slug=payload.platform, filename=payload.filename, size=payload.size, tail=tail
        )
    except uploads.UploadError as exc:
        return Status(exc.status, {"detail": exc.message, "field": exc.field})
    return Status(201, upload_out(upload))


@api.get("/imports/{upload_id}", response={200: schemas.UploadOut, **ERRORS}, tags=["imports"])
def import_detail(request, upload_id: UUID):
    """How much of the upload has arrived: after a broken connection, go on from `received`."""
    scope_required(request, "read")
    return upload_out(upload_of(request, upload_id))


PIECE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@api.put(
    "/imports/{upload_id}",
    # 413: a piece larger than the advertised piece size, or more than the file announced.
    # 415 and 422: a first piece (or tail) that is not this platform's archive; the upload is gone.
    response={
        200: schemas.UploadOut,
        409: schemas.Error,
        413: schemas.Error,
        415: schemas.Error,
        422: schemas.Error,
        **ERRORS,
    },
    openapi_extra=PIECE_BODY,
    tags=["imports"],
)
def import_piece(request, upload_id: UUID, offset: int = Query(..., ge=0)):
    """One piece of the file, sent as the body, starting at byte `offset` (= `received`). The first
    piece must begin as a ZIP or tar.gz does (and a ZIP's tail must be a whole directory of this
    platform's archive): otherwise 415 or 422, and the upload is removed."""
    scope_required(request, "export")
    upload = upload_of(request, upload_id)
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return Status(400, {"detail": "Content-Length must be a number.", "field": None})
    try:
        # The body is read as a stream: a piece is never held whole in memory.
        uploads.upload_append(upload, offset=offset, stream=request, length=length)
    except uploads.UploadError as exc:
        return Status(exc.status, {"detail": exc.message, "field": exc.field})
    upload.refresh_from_db()
    return upload_out(upload)


@api.post(
    "/imports/{upload_id}/finish",
    response={201: schemas.JobOut, 409: schemas.Error, 410: schemas.Error, 422: schemas.Error, **ERRORS},
    tags=["imports"],
)
def import_finish(request, upload_id: UUID, payload: schemas.ImportFinishIn | None = None):
    """Every byte is there: start the import — of this upload and the other `parts` of the same
    download, as one job. The archive is opened first: a damaged one, or another platform's, is
    refused (422) and removed. The answer is its job, as for an export."""
    scope_required(request, "export")
    upload = upload_of(request, upload_id)
    payload = payload or schemas.ImportFinishIn()
    try:
        job = uploads.upload_finish(upload, parts=payload.parts, skip_sensitive=payload.skip_sensitive)
    except jobs.ExportRequestError as exc:
        return Status(getattr(exc, "status", 400), {"detail": exc.message, "field": exc.field})
    return Status(201, job_out(request, job))


# --- the library ---------------------------------------------------------------------------------
@api.get("/library", response={200: schemas.LibraryPage, **ERRORS}, tags=["library"])
def library(
    request,
    q: str = Query("", max_length=200, description="Words to find in a record."),
    platform: str = "",
    date_from: str | None = Query(None, pattern=schemas.DATE_PATTERN),
    date_to: str | None = Query(None, pattern=schemas.DATE_PATTERN),
    media: bool = Query(False, description="Only records with media files."),
    cursor: str = "",
    limit: int = Query(50, ge=1, le=200),
):
    """Your records across platforms and sources, newest first, paged by cursor."""
    scope_required(request, "read")
    found = LibraryRecord.objects.filter(owner=request.user).order_by("-timestamp", "-id")
    if platform:
        found = found.filter(platform_id=platform)
    if date_from:
        found = found.filter(timestamp__gte=date_from)
    if date_to:
        # A timestamp on that day sorts after "YYYY-MM-DD" itself: compare with the next character.
        found = found.filter(timestamp__lt=date_to + "~").exclude(timestamp="")
    q = q.replace("\x00", "").strip()
    if q:
        found = found.annotate(text=Cast("data", TextField())).filter(
            Q(text__icontains=q) | Q(external_id__icontains=q)
        )
    if media:
        with_media = set()
        for ids in LibraryMedia.objects.filter(owner=request.user).values_list("record_ids", flat=True):
            with_media.update(str(i) for i in ids)
        found = found.filter(external_id__in=with_media)
    if cursor:
        timestamp, row_id = cursor_load("library", cursor)
        found = found.filter(Q(timestamp__lt=timestamp) | Q(timestamp=timestamp, id__lt=row_id))
    page = list(found[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return {
        "items": [
            {
                "platform": r.platform_id,
                "kind": r.kind,
                "id": r.external_id,
                "timestamp": r.timestamp or None,
                "sources": r.sources,
                "url": request.build_absolute_uri(f"/library/{r.platform_id}/{r.external_id}/"),
                "data": r.data if isinstance(r.data, dict) else {"value": r.data},
            }
            for r in page
        ],
        "next_cursor": cursor_dump("library", page[-1].timestamp, page[-1].id) if more else None,
    }


# --- webhooks ------------------------------------------------------------------------------------
def webhook_out(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "enabled": endpoint.enabled,
        "created_at": endpoint.created_at.isoformat(),
    }


@api.get("/webhooks", response={200: list[schemas.WebhookOut], **ERRORS}, tags=["webhooks"])
def webhook_list(request):
    scope_required(request, "read")
    return [webhook_out(e) for e in WebhookEndpoint.objects.filter(owner=request.user)]


@api.post(
    "/webhooks",
    response={201: schemas.WebhookCreated, **ERRORS},
    openapi_extra=links_to("webhook_deliveries", "webhook_delete", name="endpoint_id"),
    tags=["webhooks"],
)
def webhook_create(request, payload: schemas.WebhookIn):
    """Register an endpoint for export.succeeded, export.failed and schedule.new_items; the answer
    holds its signing secret, which is not shown again."""
    scope_required(request, "export")
    try:
        endpoint, secret = webhooks.endpoint_create(owner=request.user, url=payload.url, events=payload.events)
    except webhooks.WebhookRequestError as exc:
        return Status(400, {"detail": exc.message, "field": exc.field})
    return Status(201, {**webhook_out(endpoint), "secret": secret})


@api.delete("/webhooks/{endpoint_id}", response={204: None, **ERRORS}, tags=["webhooks"])
def webhook_delete(request, endpoint_id: int):
    scope_required(request, "export")
    if not webhooks.endpoint_delete(owner=request.user, endpoint_id=endpoint_id):
        raise Http404
    return Status(204, None)


@api.get("/webhooks/{endpoint_id}/deliveries", response={200: list[schemas.DeliveryOut], **ERRORS}, tags=["webhooks"])
def webhook_deliveries(request, endpoint_id: int):
    """The last 100 deliveries to one endpoint, newest first."""
    scope_required(request, "read")
    endpoint = WebhookEndpoint.objects.filter(owner=request.user, pk=endpoint_id).first()
    if endpoint is None:
        raise Http404
    return [
        {
            "id": d.message_id,
            "event": d.event,
            "status": d.status,
            "attempts": d.attempts,
            "response_code": d.response_code,
            "error": d.last_error,
            "created_at": d.created_at.isoformat(),
            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
        }
        for d in WebhookDelivery.objects.filter(endpoint=endpoint)[:100]
    ]
