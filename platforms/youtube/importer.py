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

from platforms.importer import ArchiveReader, BaseImporter, ImportedMedia, iso_from

BASE = re.compile(r"^(.*?(?:^|/)YouTube(?: and YouTube Music)?/)(?:videos|video metadata|playlists|channels)/")
VIDEO_EXTS = ("mp4", "mov", "webm", "mkv", "avi", "m4v", "3gp", "flv", "wmv", "mpg", "mpeg")
COPY = re.compile(r"\((\d+)\)$")
# A file name keeps about 40 characters of its title; a shorter match could be anything.
LONG_ENOUGH = 20
PUBLIC = ("public", "unlisted")


def col(row: dict, *names: str) -> str:
    """A column by any of its names, whatever their case (Takeout's headers changed over the years)."""
    lowered = {k.lower(): v for k, v in row.items()}
    return next((lowered[n.lower()].strip() for n in names if lowered.get(n.lower())), "")


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
    taken = {u.lower() for u in used}
    return {k: v for k, v in row.items() if k.lower() not in taken and v not in ("", None)}


class Importer(BaseImporter):
    slug = "youtube"
    name = "YouTube"
    expected = "it has no YouTube and YouTube Music/ folder (choose YouTube on takeout.google.com, with videos)."

    def detect(self, names: list[str]) -> bool:
        return any(BASE.match(n) for n in names)

    def records(self, archive: ArchiveReader) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        self.archive = archive
        names = archive.namelist()
        bases = sorted({m.group(1) for n in names if (m := BASE.match(n))})
        self.titles: dict[str, str] = {}
        for base in bases:
            yield from self.channels(base, names)
        for base in bases:
            yield from self.videos(base, names)
        for base in bases:
            yield from self.playlists(base, names)

    # --- channel ---------------------------------------------------------------------------
    def channels(self, base: str, names: list[str]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        name = f"{base}channels/channel.csv"
        if not self.archive.exists(name):
            return
        yield from self.each("channels", self.csv_rows(self.archive, name), self.channel, where=name)

    def channel(self, row: dict) -> tuple[dict, list[ImportedMedia]] | None:
        channel_id = col(row, "Channel ID", "Channel Id")
        if not channel_id:
            raise ValueError("a channel without an id")
        used = ("Channel ID", "Channel Id", "Channel Title (Original)", "Channel Title", "Channel Visibility")
        record = {
            "kind": "youtube#channel",
            "id": channel_id,
            "snippet": {"title": col(row, "Channel Title (Original)", "Channel Title")},
            "status": {"privacyStatus": col(row, "Channel Visibility").lower() or None},
            "archive": _rest(row, used),
        }
        return record, []

    # --- videos ----------------------------------------------------------------------------
    def videos(self, base: str, names: list[str]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        files = []
        for name in names:
            if name.startswith(f"{base}videos/") and name.rsplit(".", 1)[-1].lower() in VIDEO_EXTS:
                stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0].strip()
                copy = COPY.search(stem)
                files.append(VideoFile(name, norm(COPY.sub("", stem)), int(copy.group(1)) if copy else 0))
        self.files = sorted(files, key=lambda f: (f.copy, f.name))
        self.claimed: set[str] = set()
        metadata = f"{base}video metadata/videos.csv"
        if self.archive.exists(metadata):
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
        video_id = col(row, "Video ID", "Video Id")
        if not video_id:
            raise ValueError("a video without an id")
        title = col(row, "Video Title (Original)", "Video Title", "Title")
        published = iso_from(col(row, "Video Publish Timestamp", "Video Create Timestamp"))
        privacy = col(row, "Privacy", "Video Privacy").lower()
        snippet = {
            "publishedAt": published,
            "channelId": col(row, "Channel ID", "Channel Id") or None,
            "title": title,
            "description": col(row, "Video Description (Original)", "Video Description", "Description"),
            "defaultAudioLanguage": col(row, "Video Audio Language") or None,
        }
        ms = col(row, "Approx Duration (ms)")
        record = {
            "kind": "youtube#video",
            "id": video_id,
            "snippet": {k: v for k, v in snippet.items() if v is not None},
            "contentDetails": {"duration": duration(ms)} if duration(ms) else {},
            "status": {"privacyStatus": privacy or None, "uploadStatus": col(row, "Video State").lower() or None},
        }
        record["status"] = {k: v for k, v in record["status"].items() if v}
        used = (
            "Video ID",
            "Video Id",
            "Video Title (Original)",
            "Video Title",
            "Title",
            "Video Description (Original)",
            "Video Description",
            "Description",
            "Channel ID",
            "Channel Id",
            "Privacy",
            "Video Privacy",
            "Video State",
            "Video Audio Language",
        )
        rest = _rest(row, used)
        if rest:
            record["archive"] = rest
        self.titles[video_id] = title
        file = self.match(title)
        extra = {"title": title, "privacy": privacy or None, "duration_ms": int(float(ms)) if ms else None}
        media = [
            ImportedMedia(
                member=file.name if file else None,
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
    def playlists(self, base: str, names: list[str]) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        folder = f"{base}playlists/"
        lists = [n for n in names if n.startswith(folder) and n.endswith(".csv") and "/" not in n[len(folder) :]]
        index = f"{folder}playlists.csv"
        item_files = {n: norm(n[len(folder) : -len(".csv")].removesuffix("-videos")) for n in lists if n != index}
        found: list[tuple[dict, list[dict]]] = []
        if self.archive.exists(index):
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
