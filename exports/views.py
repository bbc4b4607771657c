import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_ratelimit.core import is_ratelimited

from accounts.selectors import platform_cards
from accounts.tokens import connection_state
from exports import conf, jobs, links, progress, schedules, selectors, uploads
from exports.eta import job_estimate
from exports.forms import ExportFilterForm, ExportForm, ScheduleForm
from exports.models import EVERYTHING, ExportJob, ExportSchedule, Upload
from platforms.models import Platform
from platforms.registry import importer_available

FAILURES_SHOWN = 200


def dashboard(request):
    if not request.user.is_authenticated:
        return render(request, "landing.html", {"platforms": Platform.objects.filter(enabled=True)})
    context = {
        "cards": platform_cards(request.user),
        "jobs": selectors.jobs_for_owner(request.user)[:8],
        "active_count": selectors.active_jobs_count(request.user),
    }
    return render(request, "dashboard.html", context)


@login_required
def export_list(request):
    filters = ExportFilterForm(request.GET or None)
    platform = status = None
    if filters.is_valid():
        platform = filters.cleaned_data["platform"] or None
        status = filters.cleaned_data["status"] or None
    found = selectors.jobs_for_owner(request.user, platform=platform, status=status)
    page = Paginator(found, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"filters": filters, "page": page, "filtered": bool(platform or status), "query": query.urlencode()}
    return render(request, "exports/list.html", context)


def everything_state(user) -> str:
    """An Everything export needs at least one connected platform."""
    cards = platform_cards(user)
    return "connected" if any(c["state"] == "connected" and c["available"] for c in cards) else "missing"


@login_required
def export_new(request):
    slug = request.POST.get("platform") if request.method == "POST" else request.GET.get("platform")
    # "Everything" (`all`) is offered though it is no platform of its own.
    offered = Platform.objects.filter(Q(enabled=True) | Q(slug=EVERYTHING))
    platform = offered.filter(slug=slug).first() if slug else None

    if request.method == "POST":
        form = ExportForm(request.POST, platform=platform, user=request.user)
        status = 400
        if form.is_valid():
            if is_ratelimited(
                request, group="exports.create", key="user", rate=conf.setting("CREATE_RATE"), increment=True
            ):
                form.add_error(None, "You have started many exports in a short time; wait a while before the next one.")
                status = 429
            else:
                try:
                    job = jobs.export_job_create(owner=request.user, **form.export_arguments())
                except jobs.ExportRequestError as exc:
                    field = exc.field if exc.field in form.fields else None
                    form.add_error(field, exc.message)
                else:
                    # The job page says it has started for as long as it runs; no flash message
                    # that would outlive the job.
                    return redirect(job)
    else:
        repeat = bool(platform) and selectors.has_finished_export(request.user, platform.slug)
        form = ExportForm(platform=platform, repeat=repeat, user=request.user)
        status = 200

    if platform is None:
        context = {"cards": platform_cards(request.user), "form": form, "asked": slug}
        return render(request, "exports/choose.html", context, status=status if slug else 200)
    context = {
        "form": form,
        "platform": platform,
        "state": everything_state(request.user)
        if platform.slug == EVERYTHING
        else connection_state(request.user, platform),
        "active_count": selectors.active_jobs_count(request.user),
        "limit": conf.setting("MAX_ACTIVE_JOBS_PER_USER"),
    }
    return render(request, "exports/new.html", context, status=status)


def job_context(request, job: ExportJob) -> dict:
    progress.job_live_view(job)
    return {
        "job": job,
        "failures": selectors.job_failures(job)[:FAILURES_SHOWN],
        "failures_shown": FAILURES_SHOWN,
        "parts": selectors.job_parts(job),
        "downloadable": job.status == ExportJob.Status.SUCCEEDED and bool(job.archive_name),
        "estimate": job_estimate(job),
    }


@login_required
def export_detail(request, job_id):
    job = selectors.job_for_owner(request.user, job_id)
    return render(request, "exports/detail.html", job_context(request, job))


@login_required
def export_progress(request, job_id):
    job = selectors.job_for_owner(request.user, job_id)
    return render(request, "exports/_progress.html", job_context(request, job))


def export_status(request, job_id):
    # Scripts poll this: they get JSON answers, never a sign-in page or an HTML 404.
    if not request.user.is_authenticated:
        return JsonResponse({"error": "sign in"}, status=401)
    try:
        job = selectors.job_status_row(request.user, job_id)
    except Http404:
        return JsonResponse({"error": "not found"}, status=404)
    download_url = None
    if job.status == ExportJob.Status.SUCCEEDED and job.archive_name:
        download_url = request.build_absolute_uri(reverse("exports:download", args=[job.id]))
    payload = selectors.job_status_cached(job, download_url=download_url)
    payload["eta_seconds"] = job_estimate(job).seconds
    return JsonResponse(payload)


@require_POST
@login_required
def export_cancel(request, job_id):
    job = selectors.job_for_owner(request.user, job_id)
    if jobs.job_cancel(job):
        messages.info(request, f"The {progress.job_title(job)} was cancelled.")
    elif not job.is_running:
        messages.info(request, f"The export had already finished ({job.get_status_display().lower()}).")
    if request.htmx:
        return render(request, "exports/_progress.html", job_context(request, job))
    return redirect(job)


@login_required
@require_POST
def export_delete(request, job_id):
    job = selectors.job_for_owner(request.user, job_id)
    title = progress.job_title(job)
    if jobs.job_delete(job=job, owner=request.user):
        messages.info(request, f"The {title} and its archive were deleted.")
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
            target = reverse("exports:list")
        return redirect(target)
    messages.warning(request, f"The {title} is still running; cancel it first, then delete it.")
    return redirect(job)


@login_required
@require_POST
def export_retry(request, job_id):
    job = selectors.job_for_owner(request.user, job_id)
    count = jobs.job_retry_failed(job)
    if count:
        messages.info(
            request, f"Trying {count} media file{'s' if count != 1 else ''} again; the archive will be rebuilt."
        )
    else:
        messages.info(request, "There was nothing to retry.")
    return redirect(job)


def link_owner(job_id, token: str | None) -> str | None:
    """The username an emailed download link was made for, when `token` is one of ours for this
    job (expired or not); None for anything else, so a guessed address still learns nothing."""
    if not token:
        return None
    job = ExportJob.objects.filter(id=job_id).select_related("owner").first()
    if job is None:
        return None
    problem = links.download_link_check(job, token)
    if problem is not None and problem.status != 410:
        return None
    return job.owner.get_username()


@login_required
def export_download(request, job_id):
    token = request.GET.get("link")
    try:
        job = selectors.job_for_owner(request.user, job_id)
    except Http404:
        owner = link_owner(job_id, token)
        if owner is None:
            raise
        # Our own link from an email, opened while signed in as someone else: say whose it is
        # (still a 404, as every job URL is for another user, DESIGN §6).
        return render(request, "exports/link_for_someone_else.html", {"owner": owner}, status=404)
    if token is not None:
        problem = links.download_link_check(job, token)
        if problem:
            context = {"job": job, "problem": problem.message, "expired": problem.status == 410}
            return render(request, "exports/download_problem.html", context, status=problem.status)
    if job.status != ExportJob.Status.SUCCEEDED or not job.archive_name:
        return render(request, "exports/download_missing.html", {"job": job}, status=404)
    try:
        default_storage.path(job.archive_name)
    except NotImplementedError:
        # Object storage: hand out a short-lived presigned URL instead of streaming through us.
        return redirect(default_storage.url(job.archive_name))
    if not default_storage.exists(job.archive_name):
        return render(request, "exports/download_missing.html", {"job": job}, status=404)
    archive = default_storage.open(job.archive_name, "rb")
    encrypted = job.archive_name.endswith(".age")
    return FileResponse(
        archive,
        as_attachment=True,
        filename=f"{job.base_name}.zip" + (".age" if encrypted else ""),
        content_type="application/octet-stream" if encrypted else "application/zip",
    )


@login_required
def schedule_list(request):
    form = ScheduleForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                schedule = schedules.schedule_save(owner=request.user, **form.schedule_arguments())
            except jobs.ExportRequestError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Saved. {schedule_title(schedule)}.")
                return redirect("exports:schedules")
    items = list(ExportSchedule.objects.filter(owner=request.user).select_related("platform", "last_job"))
    for item in items:
        item.title = schedule_title(item)
    return render(request, "exports/schedules.html", {"form": form, "schedules": items}, status=status)


def schedule_title(schedule: ExportSchedule) -> str:
    """ "Every month: Reddit export" """
    return f"{schedule.get_frequency_display()}: {schedule.platform.display_name} export"


@login_required
@require_POST
def schedule_remove(request, schedule_id):
    schedule = ExportSchedule.objects.filter(id=schedule_id, owner=request.user).first()
    if schedule is None:
        raise Http404
    schedules.schedule_delete(schedule)
    messages.info(request, "The schedule was removed.")
    return redirect("exports:schedules")


# --- importing an official archive ---------------------------------------------------------------
def _json_login_required(view):
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"error": "sign in"}, status=401)
        return view(request, *args, **kwargs)

    return wrapped


def _upload_json(upload) -> dict:
    return {
        "id": str(upload.id),
        "size": upload.size,
        "received": upload.received,
        "chunk_size": conf.setting("UPLOAD_CHUNK_BYTES"),
    }


@login_required
def import_page(request):
    platforms = [p for p in Platform.objects.filter(enabled=True) if importer_available(p.slug)]
    context = {
        "platforms": platforms,
        "max_bytes": conf.setting("UPLOAD_MAX_BYTES"),
        "tail_bytes": uploads.TAIL_BYTES,
        "asked": request.GET.get("platform", ""),
    }
    return render(request, "exports/import.html", context)


@_json_login_required
@require_POST
def upload_start(request):
    """JSON (platform, filename, size), or a form with the same fields and the file's last bytes as
    `tail`, which lets the first piece's check read a ZIP's directory."""
    if request.content_type == "multipart/form-data":
        data = request.POST
        tail_file = request.FILES.get("tail")
        tail = tail_file.read(uploads.TAIL_BYTES + 1) if tail_file else b""
    else:
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = None
        tail = b""
    try:
        size = int(data.get("size", 0))
    except (AttributeError, ValueError, TypeError):
        return JsonResponse({"error": "Send JSON with platform, filename and size."}, status=400)
    try:
        upload = uploads.upload_create(
            owner=request.user,
            platform_slug=str(data.get("platform", "")),
            filename=str(data.get("filename", "archive.zip")),
            size=size,
            tail=tail,
        )
    except uploads.UploadError as exc:
        return JsonResponse({"error": exc.message, "field": exc.field}, status=exc.status)
    return JsonResponse(_upload_json(upload), status=201)


def _refusal_json(upload, exc) -> JsonResponse:
    """An upload's refusal, with where to resume when the upload is still there."""
    fresh = Upload.objects.filter(id=upload.id).first()
    body = {"error": exc.message, "field": exc.field, **(_upload_json(fresh) if fresh else {"removed": True})}
    return JsonResponse(body, status=exc.status)


@_json_login_required
def upload_detail(request, upload_id):
    upload = Upload.objects.filter(id=upload_id, owner=request.user).first()
    if upload is None:
        return JsonResponse({"error": "not found"}, status=404)
    if request.method == "GET":
        return JsonResponse(_upload_json(upload))
    if request.method == "DELETE":
        if upload.job_id:
            return JsonResponse({"error": "This upload is an import already."}, status=409)
        uploads.upload_discard(upload)
        return HttpResponse(status=204)
    if request.method != "PUT":
        return JsonResponse({"error": "use GET, PUT or DELETE"}, status=405)
    try:
        offset = int(request.GET.get("offset", ""))
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return JsonResponse({"error": "offset and Content-Length must be numbers"}, status=400)
    try:
        # request.read streams the body: a piece is never held whole in memory.
        uploads.upload_append(upload, offset=offset, stream=request, length=length)
    except uploads.UploadError as exc:
        return _refusal_json(upload, exc)
    return JsonResponse(_upload_json(upload))


@_json_login_required
@require_POST
def upload_complete(request, upload_id):
    """Start the import of a complete upload, with `parts`: the ids of the other uploads of the same
    download (a Takeout in several ZIPs)."""
    upload = Upload.objects.filter(id=upload_id, owner=request.user).select_related("job").first()
    if upload is None:
        return JsonResponse({"error": "not found"}, status=404)
    try:
        choice = json.loads(request.body or b"{}")
    except ValueError:
        choice = {}
    choice = choice if isinstance(choice, dict) else {}
    parts = choice.get("parts") or []
    try:
        job = uploads.upload_finish(
            upload,
            parts=parts if isinstance(parts, list) else [parts],
            skip_sensitive=bool(choice.get("skip_sensitive")),
        )
    except jobs.ExportRequestError as exc:
        return JsonResponse({"error": exc.message, "field": exc.field}, status=getattr(exc, "status", 400))
    return JsonResponse({"job": str(job.id), "job_url": job.get_absolute_url()})
