"""X's archive ("Settings → Your account → Download an archive of your data").

Layout (a ZIP, sometimes inside one folder):
    data/tweets.js, or data/tweet.js in older archives, split as data/tweets-part1.js … when large:
        window.YTD.tweets.part0 = [{"tweet": {...API v1.1 tweet...}}, ...]
    data/tweets_media/<tweet id>-<file name of the media URL>   (data/tweet_media/ in older ones)
    data/deleted-tweets.js and data/deleted_tweets_media/        (tweets deleted in the last 30 days)
    data/account.js (username, id, display name), data/profile.js (bio, website, avatar) and
        data/profile_media/<account id>-<file> (the avatar and banner): a `profile` record
    data/note-tweet.js (the whole text of long posts, joined into their tweets), data/like.js,
    data/bookmark.js, data/direct-messages*.js with data/direct_messages*_media/<message id>-<file>,
    data/lists-*.js, data/community-tweet.js, data/twitter-circle-tweet.js (with
        data/twitter_circle_tweet_media/): records of their own resources
    data/deleted-note-tweet.js: the whole text of deleted long posts, joined into deleted-tweets.js's
Every other member is named in the import's notes with the reason it is not read.

Tweets are mapped into the shape the API v2 timeline gives (what the extractor keeps), with the
media joined under `media` as the extractor joins `includes.media`, so the media ids (media keys)
and URLs are the extractor's own. Whatever the archive says that v2 has no field for stays under
`archive`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from posixpath import basename
from urllib.parse import urlsplit

from platforms.importer import ArchiveReader, BaseImporter, ImportedMedia, iso_from

TWEET_FILES = re.compile(r"(?:^|/)data/tweets?(?:-part\d+)?\.js$")
DELETED_FILES = re.compile(r"(?:^|/)data/deleted-tweets?(?:-part\d+)?\.js$")
ACCOUNT_FILE = re.compile(r"(?:^|/)data/account\.js$")
PROFILE_FILE = re.compile(r"(?:^|/)data/profile\.js$")
MEDIA_FILE = re.compile(
    r"(?:^|/)data/(tweets?_media|deleted_tweets_media|community_tweet_media|twitter_circle_tweet_media)/(\d+)-([^/]+)$"
)
# Long posts' whole text: note-tweet.js, and deleted-note-tweet.js for the deleted ones.
NOTE_FILES = re.compile(r"(?:^|/)data/(?:deleted-)?note-tweet(?:-part\d+)?\.js$")
# direct_messages_media/ (direct_message_media/ in 2019 archives) and the group conversations' folder.
DM_MEDIA = re.compile(r"(?:^|/)data/direct_messages?(?:_group)?_media/(\d+)-([^/]+)$")
PROFILE_MEDIA = re.compile(r"(?:^|/)data/profile_media/\d+-([^/]+)$")
# The other data files read, each as a resource of its own.
CONTENT = (
    (re.compile(r"(?:^|/)data/like(?:-part\d+)?\.js$"), "likes"),
    (re.compile(r"(?:^|/)data/bookmarks?(?:-part\d+)?\.js$"), "bookmarks"),
    # direct-messages.js, and direct-message.js in 2019 archives.
    (re.compile(r"(?:^|/)data/direct-messages?(?:-group)?(?:-part\d+)?\.js$"), "direct_messages"),
    (re.compile(r"(?:^|/)data/lists-(?:created|member|subscribed)\.js$"), "lists"),
)
SENSITIVE = (re.compile(r"(?:^|/)data/direct[-_]messages?[-_.]"),)
OTHERS = (
    (re.compile(r"(?:^|/)data/(?:tweet|deleted-tweet|direct-message|direct-message-group)-headers(?:-part\d+)?\.js$"),
     "the ids and times of the posts and messages read from their own files, without their content"),
    (re.compile(r"(?:^|/)data/(?:moment\.js|moments_media/|moments_tweets_media/)"),
     "Moments, X's retired collections of posts: not read"),
    (re.compile(r"(?:^|/)data/(?:spaces_media|periscope_broadcast_media)/|(?:^|/)data/periscope-"),
     "recordings of Spaces and Periscope broadcasts, which no post refers to: not read"),
    (re.compile(r"(?:^|/)data/(?:twitter-article|twitter_article_media/)"), "X Articles: not read"),
    (re.compile(r"(?:^|/)data/twitter-circle(?:-member)?\.js$"), "the members of your Circle, not content"),
    (re.compile(r"(?:^|/)data/(?:ip-audit|login|account-timezone|device-token|ni-devices|connected-application|"
                r"email-address-change|screen-name-change|phone-number|account-creation-ip|key-registry)"),
     "sign-in and device records, not content"),
    (re.compile(r"(?:^|/)data/ad[-_]"), "what X records for ads, not content"),
    (re.compile(r"(?:^|/)data/(?:personalization|ageinfo|verified|periscope|protected-history|account-suspension|"
                r"user-link-clicks|spaces-metadata|contact|smartblock|mute|block|follower|following|"
                r"saved-search|tweetdeck|professional-data|sso|app|catalog|commerce|product|shop|community-note)"),
     "account settings and lists of accounts kept by X, not your posts"),
    (re.compile(r"(?:^|/)data/manifest\.js$"), "the archive's own table of contents"),
    (re.compile(r"(?:^|/)data/README\.txt$"), "X's description of the archive's files"),
    (re.compile(r"(?:^|/)(?:Your archive\.html|assets/)"), "the archive's offline viewer"),
)  # fmt: skip
COMMUNITY_FILES = re.compile(r"(?:^|/)data/community-tweet(?:-part\d+)?\.js$")
# Posts shared only with a Circle (2022-2023), with their own media folder.
CIRCLE_FILES = re.compile(r"(?:^|/)data/twitter-circle-tweet(?:-part\d+)?\.js$")
MEDIA_DIRS = {
    "tweets": ("tweets_media", "tweet_media"),
    "deleted_tweets": ("deleted_tweets_media",),
    "community_tweets": ("community_tweet_media",),
    "circle_tweets": ("twitter_circle_tweet_media",),
}
# A group conversation's events besides messages, by the names the API's dm_events give them.
CONVERSATION_EVENTS = {
    "joinConversation": "ParticipantsJoin",
    "participantsJoin": "ParticipantsJoin",
    "participantsLeave": "ParticipantsLeave",
    "conversationNameUpdate": "ConversationNameUpdate",
}
# API v2 media keys are the media id behind a prefix for its type.
KEY_PREFIX = {"photo": "3", "video": "7", "animated_gif": "16"}
VIDEO_EXTS = ("mp4", "mov", "m4v")
# Fields of a v1.1 tweet that the v2 shape below already says, in its own words.
MAPPED = {
    "id",
    "id_str",
    "full_text",
    "text",
    "created_at",
    "lang",
    "source",
    "favorite_count",
    "retweet_count",
    "possibly_sensitive",
    "entities",
    "extended_entities",
    "in_reply_to_status_id",
    "in_reply_to_status_id_str",
    "in_reply_to_user_id",
    "in_reply_to_user_id_str",
    "edit_info",
    "deleted_at",
}


def _int(value) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


# How X's archive writes a moment (`created_at`).
ARCHIVE_TIME = "%a %b %d %H:%M:%S %z %Y"


def _v2_time(value) -> str | None:
    """v2 writes `2017-06-26T10:57:22.000Z`; the archive `Mon Jun 26 10:57:22 +0000 2017`."""
    moment = iso_from(value, formats=(ARCHIVE_TIME,))
    return moment[:-1] + ".000Z" if moment else None


def _span(indices) -> dict:
    start, end = (_int(i) for i in (indices or [0, 0])[:2])
    return {"start": start, "end": end}


def _entities(raw: dict, media: list[dict]) -> dict:
    entities = raw.get("entities") or {}
    found: dict[str, list] = {}
    urls = [
        {**_span(u.get("indices")), **{k: u[k] for k in ("url", "expanded_url", "display_url") if u.get(k)}}
        for u in entities.get("urls") or []
    ]
    # v2 lists a media item's t.co link among the urls, with its media key.
    for item, key in ((m, m["media_key"]) for m in media):
        source = item.get("_entity") or {}
        if source.get("url"):
            urls.append(
                {
                    **_span(source.get("indices")),
                    "url": source["url"],
                    "expanded_url": source.get("expanded_url", ""),
                    "display_url": source.get("display_url", ""),
                    "media_key": key,
                }
            )
    if urls:
        found["urls"] = urls
    mentions = [
        {
            **_span(m.get("indices")),
            "username": m.get("screen_name", ""),
            "id": str(m.get("id_str") or m.get("id") or ""),
        }
        for m in entities.get("user_mentions") or []
    ]
    if mentions:
        found["mentions"] = mentions
    for source, target in (("hashtags", "hashtags"), ("symbols", "cashtags")):
        tags = [{**_span(t.get("indices")), "tag": t.get("text", "")} for t in entities.get(source) or []]
        if tags:
            found[target] = tags
    return found


def _v2_media(raw: dict) -> list[dict]:
    # extended_entities lists every photo of a tweet; entities only the first.
    items = (raw.get("extended_entities") or {}).get("media") or (raw.get("entities") or {}).get("media") or []
    joined = []
    for item in items:
        kind = item.get("type") or "photo"
        media_id = str(item.get("id_str") or item.get("id"))
        picture = item.get("media_url_https") or item.get("media_url") or ""
        size = item.get("original_info") or {}
        large = (item.get("sizes") or {}).get("large") or {}
        v2 = {
            "media_key": f"{KEY_PREFIX.get(kind, '3')}_{media_id}",
            "type": kind,
            "width": _int(size.get("width") or large.get("w")) or None,
            "height": _int(size.get("height") or large.get("h")) or None,
        }
        if kind == "photo":
            v2["url"] = picture
        else:
            v2["preview_image_url"] = picture
            video = item.get("video_info") or {}
            v2["variants"] = [
                {
                    **({"bit_rate": _int(v["bitrate"])} if "bitrate" in v else {}),
                    "content_type": v.get("content_type", ""),
                    "url": v.get("url", ""),
                }
                for v in video.get("variants") or []
            ]
            if video.get("duration_millis"):
                v2["duration_ms"] = _int(video["duration_millis"])
        if item.get("ext_alt_text"):
            v2["alt_text"] = item["ext_alt_text"]
        v2["_entity"] = item
        joined.append({k: v for k, v in v2.items() if v is not None})
    return joined


def tweet_v2(raw: dict) -> dict:
    """An archive tweet (API v1.1 fields as strings) in the API v2 shape the extractor keeps."""
    tweet_id = str(raw.get("id_str") or raw["id"])
    if not tweet_id.isdigit():
        raise ValueError(f"a tweet id that is not a number: {tweet_id!r}")
    media = _v2_media(raw)
    record = {
        "id": tweet_id,
        "text": raw.get("full_text") or raw.get("text") or "",
        "created_at": _v2_time(raw.get("created_at")),
        "lang": raw.get("lang"),
        "source": re.sub(r"<[^>]+>", "", raw.get("source") or "") or None,
        "public_metrics": {
            "retweet_count": _int(raw.get("retweet_count")),
            "like_count": _int(raw.get("favorite_count")),
        },
        "possibly_sensitive": raw.get("possibly_sensitive"),
        "entities": _entities(raw, media),
    }
    if record["created_at"] is None:
        raise ValueError(f"no readable created_at: {raw.get('created_at')!r}")
    edit = raw.get("edit_info") or {}
    history = (edit.get("initial") or (edit.get("edit") or {}).get("editControlInitial") or {}).get("editTweetIds")
    if history:
        record["edit_history_tweet_ids"] = [str(i) for i in history]
    if raw.get("in_reply_to_user_id_str") or raw.get("in_reply_to_user_id"):
        record["in_reply_to_user_id"] = str(raw.get("in_reply_to_user_id_str") or raw.get("in_reply_to_user_id"))
    replied = raw.get("in_reply_to_status_id_str") or raw.get("in_reply_to_status_id")
    if replied:
        record["referenced_tweets"] = [{"type": "replied_to", "id": str(replied)}]
    if raw.get("deleted_at"):
        record["deleted_at"] = _v2_time(raw["deleted_at"])
    if media:
        record["attachments"] = {"media_keys": [m["media_key"] for m in media]}
    record["media"] = [{k: v for k, v in m.items() if k != "_entity"} for m in media]
    rest = {k: v for k, v in raw.items() if k not in MAPPED}
    if rest:
        record["archive"] = rest
    return {k: v for k, v in record.items() if v is not None}


class Importer(BaseImporter):
    slug = "twitter"
    name = "X"
    article = "an"
    others = OTHERS
    sensitive = SENSITIVE
    expected = "it has no data/tweets.js (an X archive keeps the posts there)."

    def detect(self, names: list[str]) -> bool:
        return any(TWEET_FILES.search(n) for n in names)

    def records(self, archive: ArchiveReader) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        names = archive.namelist()
        # The archive's data/ folder, inside the folder that may wrap it: where an absent file belongs.
        self.data_folder = next((n[: n.index("data/") + 5] for n in names if TWEET_FILES.search(n)), "data/")
        # Media files by (folder kind, tweet id): the name after the id is the media URL's.
        self.media_files: dict[tuple[str, str], list[str]] = {}
        for name in names:
            match = MEDIA_FILE.search(name)
            if match:
                self.media_files.setdefault((match.group(1), match.group(2)), []).append(name)
        self.claimed: set[str] = set()
        # Long posts ("note tweets"): the tweet holds the start of the text, note-tweet.js all of it.
        self.notes_by_time: dict[str, list[str]] = {}
        for name in sorted((n for n in names if NOTE_FILES.search(n)), key=_part_order):
            for item in self.js_items(archive, name):
                # {"noteTweet": {...}}, and {"deletedNoteTweet": {...}} in deleted-note-tweet.js.
                note = next(iter(item.values()), {}) if isinstance(item, dict) and len(item) == 1 else item
                note = note if isinstance(note, dict) else {}
                text = (note.get("core") or {}).get("text")
                when = _v2_time(note.get("createdAt"))
                if text and when:
                    self.notes_by_time.setdefault(when, []).append(text)
        tweet_files = (
            ("tweets", TWEET_FILES),
            ("deleted_tweets", DELETED_FILES),
            ("community_tweets", COMMUNITY_FILES),
            ("circle_tweets", CIRCLE_FILES),
        )
        for resource, pattern in tweet_files:
            for name in sorted((n for n in names if pattern.search(n)), key=_part_order):
                # Item by item: a big archive's tweets.js is never whole in memory.
                items = self.js_items(archive, name)
                yield from self.each(resource, items, lambda item, r=resource: self.tweet(r, item), where=name)
        self.dm_files: dict[str, list[str]] = {}
        for name in names:
            match = DM_MEDIA.search(name)
            if match:
                self.dm_files.setdefault(match.group(1), []).append(name)
        for pattern, resource in CONTENT:
            for name in sorted((n for n in names if pattern.search(n)), key=_part_order):
                if not self.wanted(name):
                    continue
                # Where a message's files are: a group conversation's have a folder of their own.
                # (direct_message_media/ beside a 2019 archive's direct-message.js).
                singular = re.search(r"direct-message(?:-group)?(?:-part\d+)?\.js$", name)
                self.dm_folder = f"direct_message{'' if singular else 's'}{'_group' if '-group' in name else ''}_media"
                mapper = {
                    "likes": self.liked,
                    "bookmarks": self.liked,
                    "direct_messages": self.conversation,
                    "lists": self.listed,
                }[resource]
                for index, item in enumerate(self.js_items(archive, name)):
                    try:
                        pairs = mapper(item)
                    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
                        self.skip(
                            resource, f"#{index + 1} in {name}", f"could not be read: {type(exc).__name__}: {exc}"
                        )
                        continue
                    for record, media in pairs:
                        yield resource, record, media
        profile = self.profile_record(archive)
        if profile:
            yield "profile", *profile

    def tweet(self, resource: str, item: dict) -> tuple[dict, list[ImportedMedia]]:
        raw = item.get("tweet", item) if isinstance(item, dict) else item
        record = tweet_v2(raw)
        for text in self.notes_by_time.get(record["created_at"], []):
            # The tweet's text is the note's start, cut and ending in a link to the rest.
            start = re.sub(r"\s*(?:https://t\.co/\S+|…)\s*$", "", record["text"]).rstrip("…").strip()
            if start and text.startswith(start[:40]):
                record["note_tweet"] = {"text": text}
                record["text"] = text
                break
        return record, self.media(resource, record)

    # --- the other content files --------------------------------------------------------------
    def liked(self, item: dict) -> list[tuple[dict, list[ImportedMedia]]]:
        inner = next(iter(item.values())) if isinstance(item, dict) and len(item) == 1 else item
        tweet_id = str(inner.get("tweetId") or "")
        if not tweet_id:
            raise ValueError("an entry without a tweet id")
        record = {"id": tweet_id, "text": inner.get("fullText"), "url": inner.get("expandedUrl")}
        return [({k: v for k, v in record.items() if v is not None}, [])]

    def listed(self, item: dict) -> list[tuple[dict, list[ImportedMedia]]]:
        inner = next(iter(item.values())) if isinstance(item, dict) and len(item) == 1 else item
        urls = inner.get("urls") or ([inner["url"]] if inner.get("url") else [])
        return [({"id": url.rstrip("/").rsplit("/", 1)[-1], "url": url}, []) for url in urls]

    def conversation(self, item: dict) -> list[tuple[dict, list[ImportedMedia]]]:
        """One record per message of a conversation, with the files the archive holds for it, and
        one per event of a group conversation (joins, leaves, a new name)."""
        conversation = (item or {}).get("dmConversation") or {}
        found = []
        for entry in conversation.get("messages") or []:
            message = entry.get("messageCreate") if isinstance(entry, dict) else None
            if not message or not message.get("id"):
                event = self.conversation_event(conversation, entry)
                if event:
                    found.append((event, []))
                continue
            message_id = str(message["id"])
            record = {
                "id": message_id,
                "event_type": "MessageCreate",
                "dm_conversation_id": conversation.get("conversationId"),
                "sender_id": message.get("senderId"),
                "text": message.get("text") or "",
                "created_at": iso_from(message.get("createdAt")),
            }
            if message.get("recipientId"):
                record["recipient_id"] = message["recipientId"]
            rest = {k: v for k, v in message.items() if k not in ("id", "senderId", "recipientId", "text", "createdAt")}
            if rest:
                record["archive"] = rest
            media = []
            files = self.dm_files.get(message_id, [])
            for position, url in enumerate(message.get("mediaUrls") or []):
                wanted = _url_file(url)
                member = next((f for f in files if f.rsplit("/", 1)[-1].split("-", 1)[1] == wanted), None)
                member = member or (files[position] if position < len(files) else None)
                ext = (member or wanted).rsplit(".", 1)[-1].lower()
                media.append(
                    ImportedMedia(
                        member=member or f"{self.data_folder}{self.dm_folder}/{message_id}-{wanted}",
                        kind="video" if ext in VIDEO_EXTS else "image",
                        media_id=f"dm_{message_id}_{position}",
                        record_id=message_id,
                        timestamp=record["created_at"],
                        caption=record["text"],
                        ext=ext,
                        extra={"source_url": url},
                    )
                )
            found.append(({k: v for k, v in record.items() if v is not None}, media))
        return found

    def conversation_event(self, conversation: dict, entry) -> dict | None:
        """A group conversation's other events (who joined or left, a new name), as the API's
        dm_events give them (`ParticipantsJoin`, `ParticipantsLeave`), keyed by their moment."""
        if not isinstance(entry, dict) or len(entry) != 1:
            return None
        kind, event = next(iter(entry.items()))
        if not isinstance(event, dict):
            return None
        event_type = CONVERSATION_EVENTS.get(kind, kind[:1].upper() + kind[1:])
        when = iso_from(event.get("createdAt"))
        record = {
            "id": f"{conversation.get('conversationId')}_{kind}_{event.get('createdAt', '')}",
            "event_type": event_type,
            "dm_conversation_id": conversation.get("conversationId"),
            "sender_id": event.get("initiatingUserId"),
            "participant_ids": event.get("participantsSnapshot") or event.get("userIds"),
            "created_at": when,
            "archive": event,
        }
        return {k: v for k, v in record.items() if v is not None}

    def profile_record(self, archive: ArchiveReader) -> tuple[dict, list[ImportedMedia]] | None:
        """The profile with its avatar and banner, as the archive holds them (data/profile_media/)."""
        account = self.account(archive)
        if not account:
            return None
        files = {m.group(1): n for n in archive.namelist() if (m := PROFILE_MEDIA.search(n))}
        media = []
        # The profile's date is the account's creation, not a post's: kept aside, out of the coverage.
        account = {k: v for k, v in account.items() if k != "created_at"}
        for key, suffix in (("profile_image_url", "avatar"), ("header_image_url", "banner")):
            url = account.get(key) or (account.get("archive") or {}).get(key) or ""
            if not url:
                continue
            wanted = _url_file(url)
            member = files.get(wanted) or next((n for f, n in files.items() if wanted and f.startswith(wanted)), None)
            ext = (member or wanted).rsplit(".", 1)[-1].lower() if "." in (member or wanted) else "jpg"
            media.append(
                ImportedMedia(
                    member=member,
                    url=url if url.startswith("https://") else "",
                    kind="image",
                    media_id=f"{account.get('id') or account.get('username')}_{suffix}",
                    record_id=account.get("id") or account.get("username"),
                    caption=f"{account.get('username', '')} ({suffix})",
                    ext=ext,
                )
            )
        return account, media

    def media(self, resource: str, record: dict) -> list[ImportedMedia]:
        """The extractor's media items for the tweet, each found in the archive where it is there."""
        files = [n for f in MEDIA_DIRS[resource] for n in self.media_files.get((f, record["id"]), [])]
        by_file = {n.rsplit("/", 1)[-1].split("-", 1)[1]: n for n in files}
        found = []
        for item in self.extractor.media_for(record):
            source = next((m for m in record["media"] if m["media_key"] == item.media_id.removesuffix("_preview")), {})
            if item.kind == "video":
                candidates = [_url_file(v.get("url", "")) for v in source.get("variants") or []]
                member = next((by_file[c] for c in candidates if c in by_file and by_file[c] not in self.claimed), None)
                if member is None:
                    # X names a video after one of its renditions, not always one the JSON lists.
                    member = next(
                        (n for n in files if n not in self.claimed and n.rsplit(".", 1)[-1].lower() in VIDEO_EXTS), None
                    )
            else:
                picture = source.get("url") or source.get("preview_image_url") or ""
                member = by_file.get(_url_file(picture))
            if member:
                self.claimed.add(member)
            found.append(ImportedMedia.from_item(item, member))
        return found

    def account(self, archive: ArchiveReader) -> dict | None:
        names = archive.namelist()
        account_name = next((n for n in names if ACCOUNT_FILE.search(n)), None)
        if account_name is None:
            return None
        rows = self.load_json(archive, account_name, js=True) or [{}]
        account = (rows[0] if isinstance(rows, list) and rows else {}).get("account") or {}
        profile_name = next((n for n in names if PROFILE_FILE.search(n)), None)
        profile = {}
        if profile_name:
            rows = self.load_json(archive, profile_name, js=True) or [{}]
            profile = (rows[0] if isinstance(rows, list) and rows else {}).get("profile") or {}
        description = profile.get("description") or {}
        record = {
            "id": str(account.get("accountId") or ""),
            "username": account.get("username"),
            "name": account.get("accountDisplayName"),
            "created_at": account.get("createdAt"),
            "description": description.get("bio"),
            "location": description.get("location"),
            "url": description.get("website"),
            "profile_image_url": profile.get("avatarMediaUrl"),
        }
        rest = {
            "email": account.get("email"),
            "created_via": account.get("createdVia"),
            "header_image_url": profile.get("headerMediaUrl"),
        }
        record = {k: v for k, v in record.items() if v}
        rest = {k: v for k, v in rest.items() if v}
        if rest:
            record["archive"] = rest
        return record if record.get("id") or record.get("username") else None


def _url_file(url: str) -> str:
    return basename(urlsplit(url).path) if url else ""


def _part_order(name: str) -> tuple[int, str]:
    match = re.search(r"-part(\d+)\.js$", name)
    return (int(match.group(1)) if match else 0, name)
