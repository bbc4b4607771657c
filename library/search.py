"""Full-text search over a user's library, one interface for both databases.

PostgreSQL: the `simple` configuration (no stemming, so words of every language the platforms
carry match as written), a GIN-indexed tsvector with titles weighted above text above captions
and file names, `websearch_to_tsquery` for what people type, ts_rank for order and ts_headline
for snippets. SQLite: an FTS5 table with the unicode61 tokenizer, bm25 for order, snippet().
docs/library.md says what each matches.
"""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from exports.library import MARK_START, MARK_STOP, in_chunks
from exports.models import LibraryRecord
from library.models import SearchEntry

_WORD = re.compile(r"\w+", re.UNICODE)


def fts5_query(text: str) -> str:
    """What a person typed as an FTS5 query: every word, each quoted (so no word is an operator)."""
    return " ".join(f'"{word}"' for word in _WORD.findall(text))


def only_matching(records: QuerySet[LibraryRecord], text: str, *, owner_id: int) -> QuerySet[LibraryRecord]:
    """`records` (of that owner) that match `text`, in no order and with nothing computed (to count them)."""
    if not _WORD.search(text):
        return records.none()
    if connection.vendor == "postgresql":
        query = SearchQuery(text, config="simple", search_type="websearch")
        return records.filter(search_entry__vector=query, search_entry__owner_id=owner_id)
    return records.filter(
        id__in=RawSQL("SELECT rowid FROM library_search WHERE library_search MATCH %s", (fts5_query(text),))
    )


def count(records: QuerySet[LibraryRecord], text: str, *, owner_id: int, upto: int, filtered: bool) -> int:
    """How many of `records` match `text`, counting no further than `upto`."""
    if connection.vendor == "postgresql" and not filtered and _WORD.search(text):
        # Counted in the index alone, without reading a record.
        query = SearchQuery(text, config="simple", search_type="websearch")
        return SearchEntry.objects.filter(owner_id=owner_id, vector=query)[:upto].count()
    return only_matching(records, text, owner_id=owner_id)[:upto].count()


def matching(
    records: QuerySet[LibraryRecord], text: str, *, owner_id: int, ranked: bool, start: int, size: int
) -> list[LibraryRecord]:
    """`records[start:start + size]` of those that match `text`: best first (then newest) or, not
    `ranked`, newest first. Ranked is for a few thousand matches at most (the caller counts)."""
    if not _WORD.search(text):
        return []
    matches = only_matching(records, text, owner_id=owner_id)
    if connection.vendor == "postgresql":
        query = SearchQuery(text, config="simple", search_type="websearch")
        matches = matches.annotate(
            snippet=SearchHeadline(
                Concat("search_entry__body", Value("\n"), "search_entry__extra", output_field=TextField()),
                query,
                config="simple",
                start_sel=MARK_START,
                stop_sel=MARK_STOP,
                max_words=35,
                min_words=15,
                max_fragments=2,
                fragment_delimiter=" … ",
            ),
            title_marked=SearchHeadline(
                "search_entry__title",
                query,
                config="simple",
                start_sel=MARK_START,
                stop_sel=MARK_STOP,
                highlight_all=True,
            ),
        )
        if ranked:
            matches = matches.annotate(rank=SearchRank(F("search_entry__vector"), query)).order_by(
                "-rank", "-timestamp", "-id"
            )
        else:
            matches = matches.order_by("-timestamp", "-id")
        return list(matches[start : start + size])
    if not ranked:
        return list(matches.order_by("-timestamp", "-id")[start : start + size])
    # FTS5 ranks in one pass over its matches (bm25, lower is better, weighted as PostgreSQL's
    # A/B/C); the records' own filters then keep the user's, and the page is read by id.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rowid, bm25(library_search, 10.0, 4.0, 1.0) FROM library_search WHERE library_search MATCH %s",
            [fts5_query(text)],
        )
        scores = dict(cursor.fetchall())
    kept = []
    for chunk in in_chunks(list(scores)):
        kept += records.filter(id__in=chunk).values_list("id", "timestamp")
    kept.sort(key=lambda row: (row[1], row[0]), reverse=True)  # newest first among equals
    kept.sort(key=lambda row: scores[row[0]])
    ids = [pk for pk, _ in kept[start : start + size]]
    by_id = records.in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def snippets(records: list[LibraryRecord], text: str) -> None:
    """Set `.snippet_html` and `.title_html` on each record: the matched words marked, the rest escaped."""
    if connection.vendor != "postgresql" and records and _WORD.search(text):
        ids = [r.id for r in records]
        marks = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rowid, highlight(library_search, 0, %s, %s), "
                "snippet(library_search, 1, %s, %s, ' … ', 32), snippet(library_search, 2, %s, %s, ' … ', 32) "
                f"FROM library_search WHERE library_search MATCH %s AND rowid IN ({marks})",
                [*(MARK_START, MARK_STOP) * 3, fts5_query(text), *ids],
            )
            # The text's snippet, or the captions' and file names' where only they match (as on PostgreSQL).
            found = {
                pk: (title, body if MARK_START in body or MARK_START not in extra else extra)
                for pk, title, body, extra in cursor.fetchall()
            }
        for record in records:
            record.title_marked, record.snippet = found.get(record.id, ("", ""))
    for record in records:
        record.title_html = marked_html(getattr(record, "title_marked", "") or "")
        record.snippet_html = marked_html(getattr(record, "snippet", "") or "")


def marked_html(text: str) -> SafeString:
    """Escape everything, then turn the engine's marks (never found in documents) into <mark>."""
    html = escape(text).replace(MARK_START, "<mark>").replace(MARK_STOP, "</mark>")
    return mark_safe(html)  # noqa: S308 - escaped above; only our own tags are added
