"""A v.redd.it video's sound, joined to its picture.

Reddit serves a hosted video as DASH: the fallback MP4 the extractor takes has the picture only,
and the sound is a separate AAC file in the same folder. Here that file is fetched beside the
downloaded video and the two are joined with ffmpeg as a stream copy (nothing is re-encoded).
Whatever goes wrong with the sound, the video itself is kept and its sidecar says why it is silent.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from platforms.base import DownloadFailed

log = logging.getLogger(__name__)

# Reddit renamed the audio file: the current name first, then the one older posts keep.
AUDIO_NAMES = ("DASH_AUDIO_128.mp4", "DASH_audio.mp4")
# A stream copy of even a long video takes seconds; this only stops a wedged process.
FFMPEG_TIMEOUT = 600

NO_SOUND = "The post has no sound."
NO_FFMPEG = "This video has no sound track: ffmpeg was not available to merge Reddit's separate audio stream."
SILENT = "This video has no sound track: "


def audio_urls(video_url: str) -> list[str]:
    """Where v.redd.it keeps the sound of the video at `video_url` (`…/DASH_720.mp4?source=fallback`):
    the same folder under each of Reddit's audio names, without the query."""
    parts = urlsplit(video_url)
    folder, _, name = parts.path.rpartition("/")
    stem, found, _ = name.rpartition("DASH_")
    if not found:
        return []
    return [urlunsplit((parts.scheme, parts.netloc, f"{folder}/{stem}{audio}", "", "")) for audio in AUDIO_NAMES]


def merge_audio(media_file, path: Path, fetch: Callable[[str, Path], None]) -> dict | None:
    """The downloader's `finish` step for Reddit: `path` becomes the video with its sound where that
    can be done. Returns what the sidecar should say about the sound, or None for other media."""
    extra = media_file.extra or {}
    # Only the extractor's v.redd.it videos say whether they have sound.
    if media_file.kind != "video" or "has_audio" not in extra:
        return None
    if extra["has_audio"] is False:
        return _silent(NO_SOUND)
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return _silent(NO_FFMPEG)
    candidates = audio_urls(media_file.source_url)
    if not candidates:
        return _silent(SILENT + "its address does not say where Reddit keeps the audio stream.")
    path = Path(path)
    try:
        # Beside the video, so the merged file replaces it by a rename on the same file system.
        with tempfile.TemporaryDirectory(
            dir=path.parent, prefix=f"{path.name}.audio-", ignore_cleanup_errors=True
        ) as scratch:
            return _fetch_and_merge(ffmpeg, path, Path(scratch), candidates, fetch)
    except Exception as exc:  # the sound is a bonus: never lose the video over it
        log.exception("merging the audio of %s failed", media_file.source_url)
        return _silent(SILENT + f"merging Reddit's separate audio stream failed unexpectedly ({exc}).")


def _fetch_and_merge(ffmpeg: str, path: Path, scratch: Path, candidates: list[str], fetch) -> dict:
    audio = scratch / "audio.mp4"
    source, failures = None, []
    for url in candidates:
        try:
            fetch(url, audio)
            source = url
            break
        except DownloadFailed as failure:
            audio.unlink(missing_ok=True)
            name = urlsplit(url).path.rsplit("/", 1)[-1]
            failures.append(f"{name}: {failure.reason.removeprefix('expired:').strip()}")
    if source is None:
        return _silent(SILENT + f"Reddit's separate audio stream could not be fetched ({'; '.join(failures)}).")

    merged = scratch / "merged.mp4"
    command = [ffmpeg, "-y", "-v", "error", "-i", str(path), "-i", str(audio)]
    command += ["-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-movflags", "+faststart", str(merged)]
    try:
        # stdin closed: ffmpeg otherwise reads the terminal (or a worker's stdin) for commands.
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return _silent(SILENT + f"ffmpeg took more than {FFMPEG_TIMEOUT} s to merge Reddit's separate audio stream.")
    if result.returncode != 0 or not merged.is_file() or merged.stat().st_size == 0:
        lines = (result.stderr or "").strip().splitlines()
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        return _silent(SILENT + f"ffmpeg could not merge Reddit's separate audio stream ({detail}).")
    os.replace(merged, path)
    return {"audio": "merged", "audio_source": source}


def _silent(note: str) -> dict:
    return {"audio": "none", "audio_note": note}
