"""Reddit's data request (reddit.com/settings/data-request): a ZIP of CSV files, among them
    posts.csv           id, permalink, date, ip, subreddit, gildings, title, url, body
    comments.csv        id, permalink, date, ip, subreddit, gildings, link, parent, body, media
    saved_posts.csv     id, permalink
    saved_comments.csv  id, permalink
    statistics.csv      statistic, value (the account name among them)
with `date` written `2025-05-18 04:35:32 UTC`. The archive holds no media files: a post's image is
fetched from the URL it links to, as the extractor would take it (i.redd.it and imgur images and
videos); Reddit's own videos and galleries are not described in the CSV and stay out.

Records take the API's shapes (a Listing child's `data` with its `kind`), so `t3_…` and `t1_…`
fullnames are the record ids an API export uses. Unlike the API's 1,000 newest items per listing,
the data request has them all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlsplit

from platforms.importer import ArchiveReader, BaseImporter, ImportedMedia, iso_from

FILES = {
    "submitted": re.compile(r"(?:^|/)posts\.csv$"),
    "comments": re.compile(r"(?:^|/)comments\.csv$"),
    "saved": re.compile(r"(?:^|/)saved_(posts|comments)\.csv$"),
}
STATISTICS = re.compile(r"(?:^|/)statistics\.csv$")
# The other files of a data request that hold the person's own things: (file, resource, kind).
OTHER_CONTENT = (
    (re.compile(r"(?:^|/)post_votes\.csv$"), "votes", "t3"),
    (re.compile(r"(?:^|/)comment_votes\.csv$"), "votes", "t1"),
    (re.compile(r"(?:^|/)hidden_posts\.csv$"), "hidden", "t3"),
    (re.compile(r"(?:^|/)gilded_content\.csv$"), "gilded", ""),
    (re.compile(r"(?:^|/)gildings?_given\.csv$"), "gilded", ""),
    (re.compile(r"(?:^|/)gold_received\.csv$"), "gilded", ""),
    (re.compile(r"(?:^|/)subscribed_subreddits\.csv$"), "subscriptions", "t5"),
    (re.compile(r"(?:^|/)messages(?:_archive)?\.csv$"), "messages", "t4"),
    (re.compile(r"(?:^|/)chat_history\.csv$"), "chat_messages", ""),
    (re.compile(r"(?:^|/)drafts\.csv$"), "drafts", ""),
    (re.compile(r"(?:^|/)poll_votes\.csv$"), "poll_votes", ""),
)
OTHERS = (
    (re.compile(r"(?:^|/)ip_logs\.csv$"), "sign-in records, not content"),
    (re.compile(r"(?:^|/)(?:post|comment|message|messages_archive)_headers\.csv$"),
     "the same items as the file of the same name without `_headers`, without their text"),
    (re.compile(r"(?:^|/)(?:checkfile|statistics)\.csv$"), "the data request's own bookkeeping"),
    (re.compile(r"(?:^|/)(?:purchases|payouts|stripe|subscriptions|sensitive_ads_preferences|user_preferences|"
                r"account_gender|birthdate|linked_identities|linked_phone_number|twitter|persona|announcements)\.csv$"),
     "account settings and records Reddit keeps, not content"),
    (re.compile(r"(?:^|/)(?:friends|approved_submitter_subreddits|moderated_subreddits|multireddits|"
                r"scheduled_posts)\.csv$"), "lists Reddit keeps about the account, not posts or comments"),
)  # fmt: skip
# Files only Reddit's data request has beside posts.csv and comments.csv.
COMPANIONS = re.compile(r"(?:^|/)(statistics|post_votes|comment_votes|saved_posts|subscribed_subreddits|ip_logs)\.csv$")
THREAD = re.compile(r"/comments/([a-z0-9]+)", re.IGNORECASE)
BASE36 = re.compile(r"^[a-z0-9]+$")


def _epoch(date: str) -> float | None:
    moment = iso_from(date)
    if moment is None:
        return None
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


def parent_fullname(parent: str, thread: str) -> str | None:
    """Reddit's fullname of what a comment answers. The data request writes a bare id: the thread's
    own id is the post (`t3_`), any other id a comment (`t1_`)."""
    parent = parent.strip()
    if parent.startswith(("t1_", "t3_")):
        return parent
    if not BASE36.match(parent):
        return None
    return f"t3_{parent}" if parent.lower() == thread.lower() else f"t1_{parent}"


def _path(permalink: str) -> str:
    """The API's permalinks are paths (`/r/sub/comments/…`); the CSV's are full URLs."""
    parts = urlsplit(permalink)
    return parts.path if parts.scheme else permalink


def _int(value: str) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


class Importer(BaseImporter):
    slug = "reddit"
    name = "Reddit"
    others = OTHERS
    sensitive = (re.compile(r"(?:^|/)(?:messages(?:_archive)?|chat_history)\.csv$"),)
    expected = "it has no posts.csv or comments.csv (request your data at reddit.com/settings/data-request)."

    def detect(self, names: list[str]) -> bool:
        has_items = any(FILES["submitted"].search(n) or FILES["comments"].search(n) for n in names)
        return has_items and any(COMPANIONS.search(n) for n in names)

    def records(self, archive: ArchiveReader) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        self.archive = archive
        names = archive.namelist()
        self.not_fetched = 0
        for resource in ("submitted", "comments", "saved"):
            for name in sorted(n for n in names if FILES[resource].search(n)):
                rows = self.csv_rows(archive, name)
                if resource == "saved":
                    kind = "t3" if FILES["saved"].search(name).group(1) == "posts" else "t1"
                    yield from self.each(resource, rows, lambda row, k=kind: (self.saved(row, k), []), where=name)
                else:
                    mapper = self.post if resource == "submitted" else self.comment
                    yield from self.each(resource, rows, mapper, where=name)
        for pattern, resource, kind in OTHER_CONTENT:
            for name in sorted(n for n in names if pattern.search(n)):
                if not self.wanted(name):
                    continue
                rows = self.csv_rows(archive, name)
                yield from self.each(resource, rows, lambda row, k=kind: (self.other(row, k), []), where=name)
        if self.not_fetched:
            self.note(
                f"{self.not_fetched:,} posts link to Reddit-hosted videos or galleries, which the data request "
                "does not describe: their files are not in this export (an API export of the account has them)."
            )

    @staticmethod
    def _id(row: dict) -> str:
        thing_id = (row.get("id") or "").strip()
        if not BASE36.match(thing_id):
            raise ValueError(f"an id that is not a Reddit id: {thing_id!r}")
        return thing_id

    def post(self, row: dict) -> tuple[dict, list[ImportedMedia]]:
        post_id = self._id(row)
        created = _epoch(row.get("date", ""))
        if created is None:
            raise ValueError(f"no readable date: {row.get('date')!r}")
        url = (row.get("url") or "").strip()
        permalink = _path(row.get("permalink", ""))
        record = {
            "kind": "t3",
            "id": post_id,
            "name": f"t3_{post_id}",
            "title": row.get("title", ""),
            "selftext": row.get("body", ""),
            "url": url or f"https://www.reddit.com{permalink}",
            "permalink": permalink,
            "subreddit": row.get("subreddit", ""),
            "created_utc": created,
            "is_self": not url or _path(url) == permalink,
            "gilded": _int(row.get("gildings", "")),
        }
        if row.get("ip"):
            record["archive"] = {"ip": row["ip"]}
        media = [self.imported(m) for m in self.extractor.media_for(record)]
        host = (urlsplit(url).hostname or "").lower()
        if not media and (host == "v.redd.it" or "/gallery/" in url):
            self.not_fetched += 1
        return record, media

    def comment(self, row: dict) -> tuple[dict, list[ImportedMedia]]:
        comment_id = self._id(row)
        created = _epoch(row.get("date", ""))
        if created is None:
            raise ValueError(f"no readable date: {row.get('date')!r}")
        thread = THREAD.search(row.get("link", "") or row.get("permalink", ""))
        parent = (row.get("parent") or "").strip()
        record = {
            "kind": "t1",
            "id": comment_id,
            "name": f"t1_{comment_id}",
            "body": row.get("body", ""),
            "permalink": _path(row.get("permalink", "")),
            "subreddit": row.get("subreddit", ""),
            "created_utc": created,
            "link_id": f"t3_{thread.group(1)}" if thread else None,
            "parent_id": parent_fullname(parent, thread.group(1) if thread else ""),
            "gilded": _int(row.get("gildings", "")),
        }
        rest = {k: row[k] for k in ("ip", "link", "parent", "media") if row.get(k)}
        if rest:
            record["archive"] = rest
        return {k: v for k, v in record.items() if v is not None}, []

    def saved(self, row: dict, kind: str) -> dict:
        thing_id = self._id(row)
        return {
            "kind": kind,
            "id": thing_id,
            "name": f"{kind}_{thing_id}",
            "permalink": _path(row.get("permalink", "")),
        }

    def other(self, row: dict, kind: str) -> dict:
        """A row of the request's other files, keyed as the API keys its kind of thing."""
        thing_id = (row.get("id") or row.get("message_id") or row.get("subreddit") or "").strip()
        if not thing_id:
            thing_id = "row_" + hashlib.sha1("|".join(row.values()).encode()).hexdigest()[:16]
        record = {"kind": kind, "id": thing_id} if kind else {"id": thing_id}
        if kind:
            record["name"] = f"{kind}_{thing_id}"
        if row.get("permalink"):
            record["permalink"] = _path(row["permalink"])
        created = _epoch(row.get("date") or row.get("created_at") or "")
        if created is not None:
            record["created_utc"] = created
        if kind == "t4":
            record.update(subject=row.get("subject", ""), body=row.get("body", ""))
            record.update(author=row.get("from", ""), dest=row.get("to", ""))
        rest = {k: v for k, v in row.items() if k not in ("id", "permalink", "date", "subject", "body") and v}
        if rest:
            record["archive"] = rest
        return record

    def record_id(self, resource: str, record: dict) -> str:
        # Chats, drafts and poll votes are no Reddit "thing": their own id is the record's.
        return super().record_id(resource, record) or str(record.get("id") or "")

    @staticmethod
    def imported(item) -> ImportedMedia:
        return ImportedMedia.from_item(item)

    def account(self, archive: ArchiveReader) -> dict | None:
        name = next((n for n in archive.namelist() if STATISTICS.search(n)), None)
        if name is None:
            return None
        stats = {
            (r.get("statistic") or "").strip().lower(): (r.get("value") or "").strip()
            for r in self.csv_rows(archive, name)
        }
        account = {"name": stats.get("account name")}
        registered = iso_from(stats.get("registration date", "")) if stats.get("registration date") else None
        if registered:
            account["created_utc"] = _epoch(registered)
        return {k: v for k, v in account.items() if v} if account.get("name") else None
