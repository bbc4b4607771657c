"""Google Takeout's YouTube part (takeout.google.com → "YouTube and YouTube Music", with videos).

Layout (a ZIP under Takeout/, split into several parts for big channels):
    Takeout/YouTube and YouTube Music/videos/<title>.mp4          the original uploads
    Takeout/YouTube and YouTube Music/video metadata/videos.csv   one row per upload: Video ID, title,
        description, Approx Duration (ms), Privacy, Video State, Video Create/Publish Timestamp, …
    Takeout/YouTube and YouTube Music/playlists/playlists.csv     one row per playlist
    Takeout/YouTube and YouTube Music/playlists/<title>-videos.csv  Video ID, Playlist Video Creation Timestamp
    Takeout/YouTube and YouTube Music/channels/channel.csv        the channel (the export's account)
(older Takeouts name the folder YouTube/ and write one <title>.csv per playlist with its details on top.)

A video file is named after its title (shortened, some characters replaced, `(1)` for a second one
of the same name), not its id: files are matched to the rows of videos.csv by their titles.
Records take the Data API's shapes (`channels`, `videos`, `playlists`, `playlist_items`). Unlike
the API, Takeout has the videos themselves; they are kept as media of kind "video".
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from platforms.importer import ArchiveReader, BaseImporter, ImportedMedia, iso_from, meaning, meanings

# The product's folder: `YouTube and YouTube Music/` (`YouTube/` in older Takeouts, and in the
# person's language: `YouTube und YouTube Music/`, `YouTube et YouTube Music/`).
TOP = re.compile(r"^((?:.*/)?YouTube(?:[ _-]+\w+[ _-]+YouTube[ _-]+Music)?/)([^/]+)/", re.IGNORECASE)
# Its folders, matched by meaning: case, separators, wording and language changed over the years
# (`video metadata/` in 2023, `Video metadata/` in 2025).
FOLDERS = {
    "videos": meanings("videos", "vidéos", "vídeos", "video"),
    "metadata": meanings(
        "video metadata",
        "videos metadata",
        "Videometadaten",
        "métadonnées des vidéos",
        "métadonnées vidéo",
        "metadatos de vídeos",
        "metadatos de los vídeos",
        "metadados de vídeos",
        "metadati video",
    ),
    "playlists": meanings("playlists", "playlist", "listes de lecture", "listas de reproducción", "Playlists"),
    "channels": meanings("channels", "channel", "Kanäle", "Kanal", "chaînes", "chaîne", "canales", "canal", "canais"),
    "comments": meanings(
        "comments", "my-comments", "Kommentare", "Meine Kommentare", "commentaires", "comentarios", "comentários"
    ),
    "subscriptions": meanings("subscriptions", "Abos", "Abonnements", "abonnements", "suscripciones", "inscrições"),
    "history": meanings("history", "Verlauf", "historique", "historial", "histórico", "cronologia"),
}
FOLDER_OF = {m: kind for kind, names in FOLDERS.items() for m in names}
# The channel's own file in its folder: channels/channel.csv, Kanäle/Kanal.csv, chaînes/chaîne.csv.
CHANNEL_FILES = meanings("channel", "channels", "Kanal", "chaîne", "canal")
# Column headers by meaning, for every wording seen (`Video ID` 2023, `Video Id` and shorter names 2025).
COLUMNS = {
    "video_id": ("Video ID", "Video Id", "ID de la vidéo", "Video-ID"),
    "title": ("Video Title (Original)", "Video Title", "Title", "Titel", "Titre"),
    "description": ("Video Description (Original)", "Video Description", "Description", "Beschreibung"),
    "channel_id": ("Channel ID", "Channel Id", "Kanal-ID"),
    "privacy": ("Privacy", "Video Privacy", "Privacy Status", "Video Visibility", "Visibility"),
    "state": ("Video State", "State", "Upload Status"),
    "language": ("Video Audio Language", "Audio Language"),
    "duration": ("Approx Duration (ms)", "Approx. Duration (ms)", "Duration (ms)", "Video Duration (ms)"),
    "published": ("Video Publish Timestamp", "Publish Timestamp", "Video Published At", "Published At"),
    "created": ("Video Create Timestamp", "Create Timestamp", "Video Created At", "Created At"),
}
VIDEO_EXTS = ("mp4", "mov", "webm", "mkv", "avi", "m4v", "3gp", "flv", "wmv", "mpg", "mpeg")
COPY = re.compile(r"\((\d+)\)$")
ITEMS_SUFFIX = re.compile(r"[-_ ]+vid[eé]os?$", re.IGNORECASE)
# A file name keeps about 40 characters of its title; a shorter match could be anything.
LONG_ENOUGH = 20
PUBLIC = ("public", "unlisted")


def col(row: dict, *names: str) -> str:
    """A column by any of its names, matched by meaning (Takeout's headers change case, wording and
    separators over the years)."""
    wanted = [meaning(n) for n in names]
    by_meaning = {meaning(k or ""): v for k, v in row.items()}
    return next(((by_meaning.get(w) or "").strip() for w in wanted if (by_meaning.get(w) or "").strip()), "")


def field(row: dict, key: str) -> str:
    return col(row, *COLUMNS[key])


def norm(text: str) -> str:
    """Letters and digits only: what survives Takeout's file naming of a title."""
    return "".join(c for c in unicodedata.normalize("NFC", text).casefold() if c.isalnum())


def duration(ms: str) -> str | None:
    """ISO 8601 (`PT1M30S`), as the API's contentDetails.duration, from milliseconds."""
    try:
        seconds = round(int(float(ms)) / 1000)
    except (TypeError, ValueError):
        return None
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{seconds}S" if seconds or text == "PT" else "")


@dataclass
class VideoFile:
    name: str
    key: str
    copy: int


def _rest(row: dict, used: tuple[str, ...]) -> dict:
    taken = {meaning(u) for u in used}
    return {k: v for k, v in row.items() if meaning(k or "") not in taken and v not in ("", None)}


def _stem(name: str) -> str:
    return name.rsplit("/", 1)[-1].rsplit(".", 1)[0]


class Importer(BaseImporter):
    slug = "youtube"
    name = "YouTube"
    expected = "it has no YouTube and YouTube Music/ folder (choose YouTube on takeout.google.com, with videos)."
    others = (
        (re.compile(r"/(?:channels?|kan[aä]le|cha[iî]nes?|canal|canales|canais)/[^/]*"
                    r"(?:settings|config|feature|url|community|einstellungen|elementdaten|param)[^/]*$", re.I),
         "the channel's settings, not content"),
        (re.compile(r"(?:^|/)(?:archive_browser|Archiv_[ÜU]bersicht)\.html$", re.I), "Takeout's table of contents"),
        (re.compile(r"/(?:music|musik|musique|m[uú]sica)[^/]*/", re.I), "YouTube Music's library, not the channel's content"),
        (re.compile(r"/[^/]*meta[^/]*/[^/]*(?:recordings|texts|aufzeichnungen|texte|enregistrements|textes)[^/]*\.csv$",
                    re.I),
         "where videos were recorded and their translated titles; the videos themselves are read"),
        (re.compile(r"/(?:live ?chats?|my-live-chat-messages|meine-live-chat-nachrichten)/", re.I),
         "live chat messages in others' streams"),
        (re.compile(r"^(?:.*/)?Takeout/(?!YouTube)[^/]+/", re.I), "another Google product's data, not YouTube's"),
    )  # fmt: skip
    # The history folder's files, in any language (`Wiedergabeverlauf.html`, `Suchverlauf.html`).
    sensitive = (re.compile(r"/[^/]*(?:watch|search|verlauf|hist[oó]ri|cronolog)[^/]*\.(?:json|html)$", re.I),)

    def detect(self, names: list[str]) -> bool:
        return any((m := TOP.match(n)) and meaning(m.group(2)) in FOLDER_OF for n in names)

    def folders(self, names: list[str]) -> dict[str, dict[str, list[str]]]:
        """base → folder kind → members (whatever the folders' spelling)."""
        found: dict[str, dict[str, list[str]]] = {}
        for n in names:
            match = TOP.match(n)
            kind = FOLDER_OF.get(meaning(match.group(2))) if match else None
            if kind:
                found.setdefault(match.group(1), {}).setdefault(kind, []).append(n)
        return found

    def records(self, archive: ArchiveReader) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        self.archive = archive
        layout = self.folders(archive.namelist())
        bases = sorted(layout)
        self.titles: dict[str, str] = {}
        for base in bases:
            yield from self.channels(layout[base].get("channels", []))
        for base in bases:
            yield from self.videos(base, layout[base])
        for base in bases:
            yield from self.playlists(layout[base].get("playlists", []))
        for base in bases:
            yield from self.comments(layout[base].get("comments", []))
        for base in bases:
            yield from self.subscriptions(layout[base].get("subscriptions", []))
        for base in bases:
            yield from self.history(layout[base].get("history", []))

    # --- channel ---------------------------------------------------------------------------
    def channels(self, members: list[str]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        for name in sorted(n for n in members if meaning(_stem(n)) in CHANNEL_FILES):
            yield from self.each("channels", self.csv_rows(self.archive, name), self.channel, where=name)

    def channel(self, row: dict) -> tuple[dict, list[ImportedMedia]] | None:
        channel_id = col(row, "Channel ID", "Channel Id", "Kanal-ID")
        if not channel_id:
            raise ValueError("a channel without an id")
        titles = ("Channel Title (Original)", "Channel Title", "Kanaltitel (Original)", "Kanaltitel")
        used = ("Channel ID", "Channel Id", "Kanal-ID", *titles, "Channel Visibility")
        record = {
            "kind": "youtube#channel",
            "id": channel_id,
            "snippet": {"title": col(row, *titles)},
            "status": {"privacyStatus": col(row, "Channel Visibility").lower() or None},
            "archive": _rest(row, used),
        }
        return record, []

    # --- videos ----------------------------------------------------------------------------
    def videos(self, base: str, layout: dict[str, list[str]]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        files = []
        videos = layout.get("videos", [])
        self.video_folder = videos[0].rsplit("/", 1)[0] + "/" if videos else f"{base}videos/"
        for name in videos:
            if name.rsplit(".", 1)[-1].lower() in VIDEO_EXTS:
                stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0].strip()
                copy = COPY.search(stem)
                files.append(VideoFile(name, norm(COPY.sub("", stem)), int(copy.group(1)) if copy else 0))
        self.files = sorted(files, key=lambda f: (f.copy, f.name))
        self.claimed: set[str] = set()
        tables = [
            n
            for n in layout.get("metadata", []) + layout.get("videos", [])
            if n.lower().endswith(".csv") and meaning(_stem(n)) in meanings("videos", "vidéos", "vídeos", "video")
        ]
        for metadata in sorted(tables):
            yield from self.each("videos", self.csv_rows(self.archive, metadata), self.video, where=metadata)
        unmatched = [f for f in self.files if f.name not in self.claimed]
        if unmatched:
            self.note(
                f"{len(unmatched)} video files match no row of videos.csv (live streams, or a Takeout without "
                "video metadata); they are kept as videos named after their files."
            )
        for file in unmatched:
            yield "videos", *self.bare_video(file)

    def video(self, row: dict) -> tuple[dict, list[ImportedMedia]]:
        video_id = field(row, "video_id")
        if not video_id:
            raise ValueError("a video without an id")
        title = field(row, "title")
        published = iso_from(field(row, "published") or field(row, "created"))
        privacy = field(row, "privacy").lower()
        snippet = {
            "publishedAt": published,
            "channelId": field(row, "channel_id") or None,
            "title": title,
            "description": field(row, "description"),
            "defaultAudioLanguage": field(row, "language") or None,
        }
        ms = field(row, "duration")
        record = {
            "kind": "youtube#video",
            "id": video_id,
            "snippet": {k: v for k, v in snippet.items() if v is not None},
            "contentDetails": {"duration": duration(ms)} if duration(ms) else {},
            "status": {"privacyStatus": privacy or None, "uploadStatus": field(row, "state").lower() or None},
        }
        record["status"] = {k: v for k, v in record["status"].items() if v}
        used = tuple(
            n for key in ("video_id", "title", "description", "channel_id", "privacy", "state", "language")
            for n in COLUMNS[key]
        )  # fmt: skip
        rest = _rest(row, used)
        if rest:
            record["archive"] = rest
        self.titles[video_id] = title
        file = self.match(title)
        extra = {"title": title, "privacy": privacy or None, "duration_ms": int(float(ms)) if ms else None}
        # Not in this part: the name Takeout gives the file, so the failure says what to look for.
        expected = f"{self.video_folder}{title or video_id}.mp4"
        media = [
            ImportedMedia(
                member=file.name if file else expected,
                kind="video",
                media_id=video_id,
                record_id=video_id,
                timestamp=published,
                caption=title,
                ext=file.name.rsplit(".", 1)[-1].lower() if file else "mp4",
                extra={k: v for k, v in extra.items() if v is not None},
            )
        ]
        if privacy in PUBLIC:
            # Takeout has no thumbnails; YouTube serves one for every public video. Keyed as the
            # extractor keys a video's thumbnail, so an API export and an import share it.
            media.append(
                ImportedMedia(
                    member=None,
                    url=f"https://i.ytimg.com/vi/{video_id}/hqdefault.jpg",
                    kind="image",
                    media_id=f"{video_id}_thumb",
                    record_id=video_id,
                    timestamp=published,
                    caption=title,
                    ext="jpg",
                    extra={"size": "high"},
                )
            )
        return record, media

    def match(self, title: str) -> VideoFile | None:
        key = norm(title)
        if not key:
            return None
        candidates = [
            f
            for f in self.files
            if f.name not in self.claimed and (f.key == key or (len(f.key) >= LONG_ENOUGH and key.startswith(f.key)))
        ]
        if not candidates:
            return None
        best = max(candidates, key=lambda f: (len(f.key), -f.copy))
        self.claimed.add(best.name)
        return best

    def bare_video(self, file: VideoFile) -> tuple[dict, list[ImportedMedia]]:
        video_id = "takeout_" + hashlib.sha1(file.name.encode()).hexdigest()[:12]
        title = file.name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        record = {"kind": "youtube#video", "id": video_id, "snippet": {"title": title}, "archive": {"file": file.name}}
        media = ImportedMedia(
            member=file.name,
            kind="video",
            media_id=video_id,
            record_id=video_id,
            caption=title,
            ext=file.name.rsplit(".", 1)[-1].lower(),
        )
        return record, [media]

    # --- playlists -------------------------------------------------------------------------
    def playlists(self, members: list[str]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        lists = [n for n in members if n.lower().endswith(".csv")]
        index = next((n for n in lists if meaning(_stem(n)) in meanings("playlists", "playlist")), None)
        item_files = {n: norm(ITEMS_SUFFIX.sub("", _stem(n))) for n in lists if n != index}
        found: list[tuple[dict, list[dict]]] = []
        if index:
            for row in self.csv_rows(self.archive, index):
                title = col(row, "Playlist Title (Original)", "Playlist Title", "Title")
                name = self.playlist_file(title, item_files)
                found.append((row, self.csv_rows(self.archive, name) if name else []))
        else:
            for name in item_files:
                found.extend(self.old_playlist(name))
        playlists, items = [], []
        for row, rows in found:
            try:
                playlist, entries = self.playlist(row, rows)
            except ValueError as exc:
                self.skip("playlists", col(row, "Playlist ID", "Playlist Id"), f"could not be read: {exc}")
                continue
            playlists.append(playlist)
            items.extend(entries)
        # All of one resource in a row: playlists, then their items.
        for playlist in playlists:
            yield "playlists", playlist, []
        for item in items:
            yield "playlist_items", item, []

    @staticmethod
    def playlist_file(title: str, item_files: dict[str, str]) -> str | None:
        key = norm(title)
        matches = [
            n for n, k in item_files.items() if k and (k == key or (len(k) >= LONG_ENOUGH and key.startswith(k)))
        ]
        return max(matches, key=lambda n: len(item_files[n]), default=None)

    def old_playlist(self, name: str) -> list[tuple[dict, list[dict]]]:
        """Older Takeouts: the playlist's details, a blank line, then its videos, in one CSV."""
        import csv
        import io

        with self.archive.open(name) as raw:
            lines = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="").read().split("\n\n", 1)
        head = list(csv.DictReader(io.StringIO(lines[0])))
        videos = list(csv.DictReader(io.StringIO(lines[1].strip()))) if len(lines) > 1 else []
        return [(head[0], videos)] if head else []

    def playlist(self, row: dict, rows: list[dict]) -> tuple[dict, list[dict]]:
        playlist_id = col(row, "Playlist ID", "Playlist Id")
        if not playlist_id:
            raise ValueError("a playlist without an id")
        created = iso_from(col(row, "Playlist Create Timestamp", "Time Created"))
        snippet = {
            "publishedAt": created,
            "title": col(row, "Playlist Title (Original)", "Playlist Title", "Title"),
            "description": col(row, "Playlist Description (Original)", "Playlist Description", "Description"),
            "defaultLanguage": col(row, "Playlist Title (Original) Language") or None,
        }
        items = []
        for position, entry in enumerate(rows):
            video_id = col(entry, "Video ID", "Video Id")
            if not video_id:
                self.skip("playlist_items", f"{playlist_id}:{position}", "a playlist entry without a video id")
                continue
            added = iso_from(col(entry, "Playlist Video Creation Timestamp", "Time Added"))
            item_snippet = {
                "publishedAt": added,
                "playlistId": playlist_id,
                "position": position,
                "title": self.titles.get(video_id),
                "resourceId": {"kind": "youtube#video", "videoId": video_id},
            }
            items.append(
                {
                    "kind": "youtube#playlistItem",
                    "id": f"{playlist_id}:{position}",
                    "snippet": {k: v for k, v in item_snippet.items() if v is not None},
                    "contentDetails": {"videoId": video_id},
                }
            )
        used = (
            "Playlist ID",
            "Playlist Id",
            "Playlist Title (Original)",
            "Playlist Title",
            "Title",
            "Playlist Description (Original)",
            "Playlist Description",
            "Description",
            "Playlist Title (Original) Language",
            "Playlist Create Timestamp",
            "Time Created",
            "Playlist Visibility",
            "Visibility",
        )
        record = {
            "kind": "youtube#playlist",
            "id": playlist_id,
            "snippet": {k: v for k, v in snippet.items() if v is not None},
            "status": {"privacyStatus": col(row, "Playlist Visibility", "Visibility").lower() or None},
            "contentDetails": {"itemCount": len(items)},
            "archive": _rest(row, used),
        }
        record["status"] = {k: v for k, v in record["status"].items() if v}
        return record, items

    # --- comments, subscriptions, history ---------------------------------------------------
    def comments(self, members: list[str]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        for name in sorted(n for n in members if n.lower().endswith(".csv")):
            yield from self.each("comments", self.csv_rows(self.archive, name), self.comment, where=name)
        # Takeouts before 2023 (and some since) write them as a page: my-comments/my-comments.html.
        for name in sorted(n for n in members if n.lower().endswith(".html")):
            self.used.add(name)
            rows = comments_html(self.archive.read(name).decode("utf-8", "replace"))
            yield from self.each("comments", rows, self.comment, where=name)

    def comment(self, row: dict) -> tuple[dict, list[ImportedMedia]]:
        comment_id = col(row, "Comment ID", "Comment Id")
        if not comment_id:
            raise ValueError("a comment without an id")
        text = col(row, "Comment Text", "Comment", "Text")
        snippet = {
            "videoId": col(row, "Video ID", "Video Id") or None,
            "channelId": col(row, "Channel ID", "Channel Id") or None,
            "textOriginal": comment_text(text),
            "parentId": col(row, "Parent Comment ID", "Parent Comment Id") or None,
            "publishedAt": iso_from(col(row, "Comment Create Timestamp", "Create Timestamp", "Created At")),
        }
        used = ("Comment ID", "Comment Id", "Comment Text", "Comment", "Text", "Video ID", "Video Id")
        used += ("Channel ID", "Channel Id", "Parent Comment ID", "Parent Comment Id", "Comment Create Timestamp")
        record = {
            "kind": "youtube#comment",
            "id": comment_id,
            "snippet": {k: v for k, v in snippet.items() if v is not None},
            "archive": _rest(row, used),
        }
        return record, []

    def subscriptions(self, members: list[str]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        for name in sorted(n for n in members if n.lower().endswith(".csv")):
            yield from self.each("subscriptions", self.csv_rows(self.archive, name), self.subscription, where=name)

    def subscription(self, row: dict) -> tuple[dict, list[ImportedMedia]]:
        channel_id = col(row, "Channel Id", "Channel ID", "Kanal-ID")
        if not channel_id:
            raise ValueError("a subscription without a channel id")
        record = {
            "kind": "youtube#subscription",
            "id": channel_id,
            "snippet": {
                "title": col(row, "Channel Title", "Title", "Kanaltitel"),
                "resourceId": {"kind": "youtube#channel", "channelId": channel_id},
            },
            "archive": _rest(row, ("Channel Id", "Channel ID", "Kanal-ID", "Channel Title", "Title", "Kanaltitel")),
        }
        return record, []

    def history(self, members: list[str]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        """Watch and search history, as Takeout writes it in JSON or in HTML."""
        for name in sorted(members):
            what = "search_history" if is_search(name) else "watch_history"
            if not name.lower().endswith((".json", ".html")) or not self.wanted(name):
                continue
            if name.lower().endswith(".json"):
                items = self.load_json(self.archive, name)
            else:
                self.used.add(name)
                items = history_html(self.archive.read(name).decode("utf-8", "replace"))
            yield from self.each(what, items if isinstance(items, list) else [], self.activity, where=name)

    def activity(self, item: dict) -> tuple[dict, list[ImportedMedia]]:
        when = iso_from(item.get("time"))
        if not when:
            raise ValueError(f"no readable time: {item.get('time')!r}")
        link = item.get("titleUrl") or ""
        video = re.search(r"[?&]v=([\w-]{6,})", link)
        digest = hashlib.sha1(f"{when}|{item.get('title')}|{link}".encode()).hexdigest()[:16]
        snippet = {"publishedAt": when, "title": item.get("title") or ""}
        if video:
            snippet["resourceId"] = {"kind": "youtube#video", "videoId": video.group(1)}
        return {"kind": "youtube#activity", "id": f"history_{digest}", "snippet": snippet, "archive": item}, []


def comment_text(text: str) -> str:
    """Takeout (2023+) writes a comment as JSON segments, `{"text":"Nice"},{"text":" video"}`."""
    import json

    if text.startswith("{"):
        try:
            segments = json.loads(f"[{text}]")
            return "".join(str(s.get("text", "")) for s in segments if isinstance(s, dict))
        except ValueError:
            pass
    return text


HTML_CELL = re.compile(r'<div class="outer-cell[^"]*">(.*?)(?=<div class="outer-cell|\Z)', re.S)
HTML_BODY = re.compile(r'<div class="content-cell[^"]*mdl-typography--body-1">(.*?)</div>', re.S)
HTML_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.S)


def history_html(page: str) -> list[dict]:
    """The HTML form of Takeout's history: one cell per entry, `Watched <a>title</a><br><a>channel</a>
    <br>date`. Mapped into the JSON form's fields."""
    import html

    entries = []
    for cell in HTML_CELL.findall(page):
        body = HTML_BODY.search(cell)
        if not body:
            continue
        parts = [p.strip() for p in re.split(r"<br\s*/?>", body.group(1))]
        links = HTML_LINK.findall(body.group(1))
        text = html.unescape(re.sub(r"<[^>]+>", "", parts[-1] if parts else ""))
        text = " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())
        when = html_time(text)
        entry: dict = {"header": "YouTube", "time": when or text}
        if when and not text.endswith(" UTC"):
            entry["time_text"] = text
        if links:
            entry["titleUrl"] = html.unescape(links[0][0])
            entry["title"] = html.unescape(re.sub(r"<[^>]+>", "", parts[0])).strip()
        if len(links) > 1:
            entry["subtitles"] = [{"name": html.unescape(links[1][1]), "url": html.unescape(links[1][0])}]
        entries.append(entry)
    return entries


# Since about 2020 the HTML form writes each moment in the person's own time zone, by its
# abbreviation (`Mar 8, 2024, 5:14:40 PM CET`), and in the person's language (`08.03.2024, 17:14:40 MEZ`).
ZONES = {
    "UTC": 0, "GMT": 0, "WET": 0, "WEST": 60, "BST": 60, "IST": 330, "CET": 60, "CEST": 120, "MEZ": 60,
    "MESZ": 120, "EET": 120, "EEST": 180, "OEZ": 120, "OESZ": 180, "MSK": 180, "EST": -300, "EDT": -240,
    "CST": -360, "CDT": -300, "MST": -420, "MDT": -360, "PST": -480, "PDT": -420, "AKST": -540,
    "AKDT": -480, "HST": -600, "AST": -240, "ADT": -180, "NST": -210, "NDT": -150, "JST": 540, "KST": 540,
    "HKT": 480, "SGT": 480, "AWST": 480, "ACST": 570, "ACDT": 630, "AEST": 600, "AEDT": 660, "NZST": 720,
    "NZDT": 780, "BRT": -180, "ART": -180, "SAST": 120, "WIB": 420, "PHT": 480,
}  # fmt: skip
HTML_TIME_FORMATS = (
    "%b %d, %Y, %I:%M:%S %p",
    "%b %d, %Y, %H:%M:%S",
    "%d %b %Y, %H:%M:%S",
    "%d %b %Y, %I:%M:%S %p",
    "%d.%m.%Y, %H:%M:%S",
    "%d/%m/%Y, %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
)
ZONE_AT_END = re.compile(r"^(.*?)\s+(?:(?:GMT|UTC)([+-]\d{1,2})(?::?(\d\d))?|([A-Z]{2,5}))$")


def html_time(text: str) -> str | None:
    """ISO 8601 UTC from a moment of Takeout's HTML history; None when it is no moment at all."""
    from datetime import datetime, timedelta

    match = ZONE_AT_END.match(text)
    offset = 0
    if match:
        text = match.group(1)
        if match.group(4):
            if match.group(4) in ("AM", "PM"):
                text = f"{text} {match.group(4)}"
            else:
                # A zone we do not know is read as UTC: the moment is kept, its text beside it.
                offset = ZONES.get(match.group(4), 0)
        else:
            hours = int(match.group(2))
            offset = hours * 60 + (int(match.group(3) or 0) * (1 if hours >= 0 else -1))
    for fmt in HTML_TIME_FORMATS:
        try:
            moment = datetime.strptime(text, fmt) - timedelta(minutes=offset)
        except ValueError:
            continue
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


# The history files' names, in the languages Takeout writes them: a search history, or else a watch one.
SEARCH_WORDS = ("search", "such", "recherche", "busqueda", "pesquisa", "ricerc", "zoek")


def is_search(name: str) -> bool:
    return any(word in meaning(_stem(name)) for word in SEARCH_WORDS)


HTML_ITEM = re.compile(r"<li>(.*?)</li>", re.S)
COMMENT_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:\s*|T)(\d\d):(\d\d):(\d\d)")


def comments_html(page: str) -> list[dict]:
    """The HTML form of the comments (`my-comments.html`): one `<li>` each, `You added a <a
    href="…watch?v=ID&lc=COMMENT">comment</a> on <a>video</a>.<br/>2020-02-27 15:55:56 UTC<br/>text`.
    Mapped into the CSV form's columns."""
    import html

    rows = []
    for item in HTML_ITEM.findall(page):
        parts = re.split(r"<br\s*/?>", item)
        when = COMMENT_TIME.search(re.sub(r"<[^>]+>", "", item))
        links = [html.unescape(h) for h in re.findall(r'<a href="([^"]*)"', item)]
        comment = next((re.search(r"[?&]lc=([\w.-]+)", u) for u in links if "lc=" in u), None)
        video = next((re.search(r"[?&]v=([\w-]+)", u) for u in links if "v=" in u), None)
        # The text is what follows the line with the moment (or the first line, in older pages).
        text_parts = [p for p in parts[1:] if not COMMENT_TIME.fullmatch(re.sub(r"<[^>]+>|\s*UTC\s*$", "", p).strip())]
        text = html.unescape(re.sub(r"<[^>]+>", "", "<br>".join(text_parts).replace("<br>", "\n"))).strip()
        moment = "{}-{}-{}T{}:{}:{}Z".format(*when.groups()) if when else ""
        digest = hashlib.sha1(f"{moment}|{text}|{links}".encode()).hexdigest()[:16]
        rows.append(
            {
                "Comment ID": comment.group(1) if comment else f"html_{digest}",
                "Video ID": video.group(1) if video else "",
                "Comment Create Timestamp": moment,
                "Comment Text": text,
                "Links": " ".join(links),
            }
        )
    return rows
