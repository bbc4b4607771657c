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
from django.templatetags.static import static
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


def _cards(records: list[LibraryRecord], user, platforms: dict[str, Platform]) -> list[dict]:
    """What the templates show of each record, as plain dicts (the page renders fifty at a time):
    its summary, kind in words, sources, media."""
    sources = dict(LibraryRecord.Source.choices)
    media = selectors.media_of(user, records)
    history = selectors.history_of(user, records)
    cards = []
    for record in records:
        summary = get_extractor(record.platform_id).summary(record.kind, record.data) if record.data else {}
        platform = platforms.get(record.platform_id)
        # A title that is only the record's id (a comment's "t1_…") says nothing: the kind will do.
        title = "" if summary.get("title") == record.external_id else summary.get("title", "")
        changes = history.get(record.id, [])
        cards.append(
            {
                "row": record,
                "key": f"{record.platform_id}/{record.external_id}",
                "title": title,
                "title_html": getattr(record, "title_html", ""),
                "snippet_html": getattr(record, "snippet_html", ""),
                "text": summary.get("text", ""),
                "link": http_url(summary.get("link")) or "",
                "kind": selectors.kind_words(record.kind),
                "sources": " and ".join(sources.get(s, s) for s in record.sources),
                "platform": platform.display_name if platform else record.platform_id,
                "icon": static(platform.icon) if platform and platform.icon else "",
                "files": [_file(m) for m in media.get(record.id, [])],
                "url": reverse("library:record", args=[record.platform_id, record.external_id])
                + "?"
                + urlencode({"kind": record.kind}),
                "timestamp": record.timestamp,
                "day": record.timestamp[:10],
                "month": record.timestamp[:7],
                "month_words": _month_words(record.timestamp[:7]),
                "history": [
                    ("back" if change == "new" and i else change, day) for i, (change, day) in enumerate(changes)
                ],
                # Kept after the platform stopped returning it: the day it disappeared.
                "gone": changes[-1][1] if changes and changes[-1][0] == "gone" else "",
            }
        )
    return cards


def _file(media) -> dict:
    return {
        "url": reverse("library:media", args=[media.id]),
        "kind": media.kind,
        "name": f"{media.media_id}.{media.ext}" if media.ext else media.media_id,
        "label": (media.caption or media.media_id)[:120],
        "size": media.size,
    }


@login_required
def library_page(request):
    filters = selectors.filters_from(request.GET)
    if filters.q:
        page = selectors.search_page(request.user, filters, number=_int(request.GET.get("page"), 1))
    else:
        page = selectors.timeline_page(request.user, filters, cursor=request.GET.get("after", "")[:80])
    platforms = {p.slug: p for p in Platform.objects.all()}
    context = {
        "filters": filters,
        "page": page,
        "cards": _cards(page.records, request.user, platforms),
        "platforms": platforms.values(),
        "kinds": [(k, selectors.kind_words(k)) for k in selectors.library_kinds(request.user)],
        "query": urlencode(
            {k: v for k, v in request.GET.items() if k in ("q", "platform", "kind", "date_from", "date_to", "media")}
        ),
    }
    if not filters.q and "after" not in request.GET:
        year = _int(request.GET.get("year"), 0)
        context.update(
            selectors.library_cached(request.user, f"charts-{year}", lambda: _charts(request.user, year, platforms))
        )
    return render(request, "library/library.html", context)


def _charts(user, year: int, platforms: dict[str, Platform]) -> dict:
    """The activity chart and the calendar of `year` (or the latest), drawn; cached as drawn."""
    months = selectors.months_by_platform(user)
    out: dict = {}
    activity = charts.activity_chart(months, {slug: p.display_name for slug, p in platforms.items()})
    if activity:
        out.update(activity=activity, activity_svg=charts.activity_svg(activity))
    years = sorted({int(month[:4]) for month, _, _ in months if month[:4].isdigit()})
    if years:
        chosen = year if year in years else years[-1]
        heat = charts.heat_map(chosen, selectors.days_of_year(user, chosen))
        out.update(heat=heat, heat_svg=charts.heat_svg(heat), years=years)
    return out


@login_required
def record_page(request, platform: str, record_id: str):
    rows = selectors.record_for_owner(request.user, platform, record_id, kind=request.GET.get("kind", ""))
    platforms = {p.slug: p for p in Platform.objects.filter(slug=platform)}
    card, *others = _cards(rows, request.user, platforms)
    record = rows[0]
    data = record.data if isinstance(record.data, dict) else {}
    fields = [
        (key, value)
        for key, value in data.items()
        if isinstance(value, str | int | float | bool) and value not in ("", None) and not str(key).startswith("_")
    ]
    context = {
        "record": record,
        "card": card,
        "others": others,
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
