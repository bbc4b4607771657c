"""The library pages (DESIGN §6): /library/ and /library/<platform>/<record id>/, and the media
they show, streamed from storage to their owner only."""

from __future__ import annotations

import datetime
import json
import mimetypes

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from exports.models import LibraryRecord
from library import charts, selectors
from platforms.models import Platform
from platforms.registry import get_extractor
from platforms.safety import http_url

# Only these play or show inline; anything else (SVG, HTML...) is a download, so no file from a
# platform can run script on this site.
INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "video/mp4", "video/webm")


def _describe(records: list[LibraryRecord], media: dict, platforms: dict[str, Platform]) -> None:
    """What the templates show of each record: its summary, kind in words, sources, media."""
    sources = dict(LibraryRecord.Source.choices)
    for record in records:
        summary = get_extractor(record.platform_id).summary(record.kind, record.data) if record.data else {}
        # A title that is only the record's id (a comment's "t1_…") says nothing: the kind will do.
        record.title = "" if summary.get("title") == record.external_id else summary.get("title", "")
        record.text = summary.get("text", "")
        record.link = http_url(summary.get("link")) or ""
        record.kind_words = selectors.kind_words(record.kind)
        record.source_words = [sources.get(s, s) for s in record.sources]
        record.platform_row = platforms.get(record.platform_id)
        record.files = media.get(record.id, [])
        record.url = reverse("library:record", args=[record.platform_id, record.external_id]) + (
            "?" + urlencode({"kind": record.kind})
        )
        record.day = record.timestamp[:10]
        record.month = record.timestamp[:7]
        record.month_words = _month_words(record.month)


@login_required
def library_page(request):
    filters = selectors.filters_from(request.GET)
    if filters.q:
        page = selectors.search_page(request.user, filters, number=_int(request.GET.get("page"), 1))
    else:
        page = selectors.timeline_page(request.user, filters, cursor=request.GET.get("after", "")[:80])
    platforms = {p.slug: p for p in Platform.objects.all()}
    _describe(page.records, selectors.media_of(request.user, page.records), platforms)
    context = {
        "filters": filters,
        "page": page,
        "platforms": platforms.values(),
        "kinds": [(k, selectors.kind_words(k)) for k in selectors.library_kinds(request.user)],
        "query": urlencode(
            {k: v for k, v in request.GET.items() if k in ("q", "platform", "kind", "date_from", "date_to", "media")}
        ),
    }
    if not filters.q and "after" not in request.GET:
        months = selectors.months_by_platform(request.user)
        context["activity"] = charts.activity_chart(months, {slug: p.display_name for slug, p in platforms.items()})
        years = sorted({int(month[:4]) for month, _, _ in months if month[:4].isdigit()})
        if years:
            year = _int(request.GET.get("year"), years[-1])
            year = year if year in years else years[-1]
            context["heat"] = charts.heat_map(year, selectors.days_of_year(request.user, year))
            context["years"] = years
    return render(request, "library/library.html", context)


@login_required
def record_page(request, platform: str, record_id: str):
    rows = selectors.record_for_owner(request.user, platform, record_id, kind=request.GET.get("kind", ""))
    platforms = {p.slug: p for p in Platform.objects.filter(slug=platform)}
    _describe(rows, selectors.media_of(request.user, rows), platforms)
    record = rows[0]
    data = record.data if isinstance(record.data, dict) else {}
    fields = [
        (key, value)
        for key, value in data.items()
        if isinstance(value, str | int | float | bool) and value not in ("", None) and not str(key).startswith("_")
    ]
    context = {
        "record": record,
        "others": rows[1:],
        "fields": fields,
        "raw": json.dumps(record.data, indent=2, ensure_ascii=False, sort_keys=True),
    }
    return render(request, "library/record.html", context)


@login_required
def media_file(request, media_pk: int):
    media = selectors.media_for_owner(request.user, media_pk)
    content_type = media.content_type or mimetypes.guess_type(f"x.{media.ext}")[0] or ""
    inline = content_type in INLINE_TYPES
    try:
        handle = default_storage.open(media.stored_name, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404 from exc
    name = f"{media.media_id}.{media.ext}" if media.ext else media.media_id
    response = FileResponse(
        handle,
        content_type=content_type if inline else "application/octet-stream",
        as_attachment=not inline,
        filename=name,
    )
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=86400"
    return response


def _month_words(month: str) -> str:
    try:
        return datetime.date(int(month[:4]), int(month[5:7]), 1).strftime("%B %Y")
    except ValueError:
        return "Undated"


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
