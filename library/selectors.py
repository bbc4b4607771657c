"""What the library pages read: a user's records and media, filtered, paged, counted by time.

Every query starts from the owner: another user's record is never found, so its page is a 404.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, Count, Max, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Substr
from django.http import Http404

from exports.models import LibraryMedia, LibraryRecord
from library import search
from platforms.models import Platform

PAGE_SIZE = 50
RANKED = 2000
# Deleted records are not a write the cache key sees; an hour bounds how long the charts count them.
CHART_SECONDS = 3600

# What a resource's records are, in words a person uses; resources share names across platforms.
KIND_WORDS = {
    "submitted": "post",
    "posts": "post",
    "media": "post",
    "tweets": "post",
    "comments": "comment",
    "saved": "saved item",
    "repos": "repository",
    "starred": "starred repository",
    "gists": "gist",
    "user": "profile",
    "channels": "channel",
    "playlists": "playlist",
    "playlist_items": "playlist entry",
    "videos": "video",
    "photos": "photo",
    "stories": "story",
}


def kind_words(kind: str) -> str:
    return KIND_WORDS.get(kind, kind.replace("_", " "))


@dataclass(frozen=True)
class Filters:
    q: str = ""
    platform: str = ""
    kind: str = ""
    date_from: str = ""  # YYYY-MM-DD
    date_to: str = ""
    media: bool = False

    @property
    def active(self) -> bool:
        return any((self.q, self.platform, self.kind, self.date_from, self.date_to, self.media))

    @property
    def active_filters(self) -> bool:
        """A filter besides the search words."""
        return any((self.platform, self.kind, self.date_from, self.date_to, self.media))


@dataclass
class Page:
    records: list[LibraryRecord]
    next_cursor: str = ""  # the timeline's keyset cursor ("timestamp|id")
    number: int = 1  # a search's page number
    has_next: bool = False
    count: int | None = None
    ranked: bool = True  # best first; else newest first, and `count` is "more than" (or None: many)
    platforms: dict[str, Platform] = field(default_factory=dict)


def _day(value: str) -> str:
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        return ""


def filters_from(params) -> Filters:
    """The page's query string as filters; what cannot be read is ignored, never an error."""
    return Filters(
        q=(params.get("q") or "").strip()[:200],
        platform=(params.get("platform") or "").strip()[:32],
        kind=(params.get("kind") or "").strip()[:32],
        date_from=_day(params.get("date_from")),
        date_to=_day(params.get("date_to")),
        media=params.get("media") in ("1", "on", "true", "yes"),
    )


def _has_media() -> RawSQL:
    return RawSQL(
        "EXISTS (SELECT 1 FROM library_record_media l WHERE l.owner_id = exports_libraryrecord.owner_id "
        "AND l.platform_id = exports_libraryrecord.platform_id AND l.record_id = exports_libraryrecord.external_id)",
        (),
        output_field=BooleanField(),
    )


def records_for_owner(user, filters: Filters = Filters()) -> QuerySet[LibraryRecord]:
    records = LibraryRecord.objects.filter(owner=user)
    if filters.platform:
        records = records.filter(platform_id=filters.platform)
    if filters.kind:
        records = records.filter(kind=filters.kind)
    # A date range shows dated records only: an undated one cannot be placed in it.
    if filters.date_from:
        records = records.filter(timestamp__gte=filters.date_from)
    if filters.date_to:
        records = records.filter(timestamp__gt="", timestamp__lte=filters.date_to + "T23:59:59Z")
    if filters.media:
        records = records.filter(_has_media())
    return records


def timeline_page(user, filters: Filters, *, cursor: str = "") -> Page:
    """Newest first, PAGE_SIZE at a time; `cursor` (from the previous page) says where to go on."""
    records = records_for_owner(user, filters)
    timestamp, _, last_id = cursor.rpartition("|")
    if last_id.isdigit():
        records = records.filter(
            RawSQL(
                "(exports_libraryrecord.timestamp, exports_libraryrecord.id) < (%s, %s)",
                (timestamp, int(last_id)),
                output_field=BooleanField(),
            )
        )
    rows = list(records.order_by("-timestamp", "-id")[: PAGE_SIZE + 1])
    page = Page(records=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE)
    if page.has_next:
        last = page.records[-1]
        page.next_cursor = f"{last.timestamp}|{last.id}"
    return page


def search_page(user, filters: Filters, *, number: int = 1) -> Page:
    """The records matching `filters.q` with their snippets: best first, or newest first when more
    than RANKED match (a word in thousands of records ranks them all about alike, and ranking
    every one of them would make the page slow)."""
    number = max(1, min(number, 200))
    records = records_for_owner(user, filters)
    everything = LibraryRecord.objects.filter(owner=user)
    total = search.count(everything, filters.q, owner_id=user.id, upto=RANKED + 1, filtered=False)
    ranked, filtered = total <= RANKED, filters != Filters(q=filters.q)
    start = (number - 1) * PAGE_SIZE
    rows = search.matching(records, filters.q, owner_id=user.id, ranked=ranked, start=start, size=PAGE_SIZE + 1)
    page = Page(records=rows[:PAGE_SIZE], number=number, has_next=len(rows) > PAGE_SIZE, ranked=ranked)
    if not filtered:
        page.count = min(total, RANKED)
    elif ranked:  # at most RANKED candidates: cheap to count exactly
        page.count = search.count(records, filters.q, owner_id=user.id, upto=RANKED + 1, filtered=True)
    # else many match the words, and counting the filtered ones would read them all
    search.snippets(page.records, filters.q)
    return page


def media_of(user, records: list[LibraryRecord]) -> dict[int, list[LibraryMedia]]:
    """Each record's media (record pk -> files), the user's own only."""
    if not records:
        return {}
    wanted = {(r.platform_id, r.external_id): r.id for r in records}
    links = LibraryMedia.objects.raw(
        "SELECT m.*, l.record_id AS linked_record FROM library_record_media l "
        "JOIN exports_librarymedia m ON m.id = l.media_id AND m.owner_id = l.owner_id "
        f"WHERE l.owner_id = %s AND l.record_id IN ({', '.join(['%s'] * len(wanted))}) ORDER BY m.media_id",
        [user.id, *{external_id for _, external_id in wanted}],
    )
    out: dict[int, list[LibraryMedia]] = {}
    for media in links:
        if record_pk := wanted.get((media.platform_id, media.linked_record)):
            out.setdefault(record_pk, []).append(media)
    return out


def record_for_owner(user, platform: str, external_id: str, *, kind: str = "") -> list[LibraryRecord]:
    """The user's record with this id, in each resource that holds it (the asked kind first); 404
    for anything not the user's."""
    rows = list(
        LibraryRecord.objects.filter(owner=user, platform_id=platform, external_id=external_id).order_by("kind")
    )
    if not rows:
        raise Http404
    rows.sort(key=lambda r: r.kind != kind)
    return rows


def media_for_owner(user, media_pk: int) -> LibraryMedia:
    try:
        return LibraryMedia.objects.get(owner=user, id=media_pk)
    except LibraryMedia.DoesNotExist as exc:
        raise Http404 from exc


def library_kinds(user) -> list[str]:
    return library_cached(
        user,
        "kinds",
        lambda: list(
            LibraryRecord.objects.filter(owner=user).values_list("kind", flat=True).distinct().order_by("kind")
        ),
    )


def library_cached(user, name: str, compute):
    """`compute()`, kept until the user's library changes (every write moves its latest last_seen)."""
    if not hasattr(user, "_library_version"):
        latest = LibraryRecord.objects.filter(owner=user).aggregate(at=Max("last_seen"))["at"]
        user._library_version = latest.timestamp() if latest else 0
    return cache.get_or_set(f"library:{user.id}:{name}:{user._library_version}", compute, CHART_SECONDS)


def months_by_platform(user) -> list[tuple[str, str, int]]:
    """(YYYY-MM, platform, records) over the user's dated records."""
    return list(
        LibraryRecord.objects.filter(owner=user, timestamp__gt="")
        .annotate(month=Substr("timestamp", 1, 7))
        .values_list("month", "platform_id")
        .annotate(n=Count("id"))
        .order_by("month", "platform_id")
    )


def days_of_year(user, year: int) -> dict[str, int]:
    """YYYY-MM-DD -> records that day, for one year."""
    rows = (
        LibraryRecord.objects.filter(owner=user, timestamp__gte=f"{year:04d}", timestamp__lt=f"{year + 1:04d}")
        .annotate(day=Substr("timestamp", 1, 10))
        .values_list("day")
        .annotate(n=Count("id"))
    )
    return dict(rows)


def history_of(user, records: list[LibraryRecord]) -> dict[int, list[tuple[str, str]]]:
    """Each record's changes across exports, oldest first: record pk -> [(change, YYYY-MM-DD)]."""
    if not records:
        return {}
    wanted = {(r.platform_id, r.kind, r.external_id): r.id for r in records}
    marks = ", ".join(["%s"] * len(wanted))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT platform_id, kind, record_id, change, at FROM library_change "
            f"WHERE owner_id = %s AND record_id IN ({marks}) ORDER BY id",
            [user.id, *{external_id for _, _, external_id in wanted}],
        )
        rows = cursor.fetchall()
    out: dict[int, list[tuple[str, str]]] = {}
    for platform, kind, record_id, change, at in rows:
        if pk := wanted.get((platform, kind, record_id)):
            out.setdefault(pk, []).append((change, str(at)[:10]))
    return out
