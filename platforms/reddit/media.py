"""A v.redd.it video's sound, joined to its picture.

Reddit serves a hosted video as DASH: the fallback MP4 the extractor takes has the picture only,
and the sound is a separate AAC file in the same folder. Here that file is fetched beside the
downloaded video and the two are joined as a stream copy (nothing is re-encoded): in this process
with PyAV, which carries FFmpeg's libraries, or else with Debian's ffmpeg program (a process of
its own costs far more CPU than the copy itself). Whatever goes wrong with the sound, the video
itself is kept and its sidecar says why it is silent.
"""

from __future__ import annotations

import heapq
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from platforms.base import DownloadFailed

log = logging.getLogger(__name__)

# Reddit renamed the audio file: the current name first, then the one older posts keep.
AUDIO_NAMES = ("DASH_AUDIO_128.mp4", "DASH_audio.mp4")
# A stream copy of even a long video takes seconds; this only stops a wedged process.
FFMPEG_TIMEOUT = 600
# Which audio name each post's folder has, as found: a repeat (a retry, the next export of the
# same user) asks for that one only.
KNOWN_AUDIO_MAX = 4096
_known_audio: OrderedDict[str, str] = OrderedDict()
_known_audio_lock = threading.Lock()

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
    ffmpeg = None if pyav() else shutil.which("ffmpeg")
    if not (pyav() or ffmpeg):
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


@cache
def pyav():
    """PyAV (FFmpeg's libraries in this process), or None where it is not installed."""
    try:
        import av
    except ImportError:
        return None
    return av


def _fetch_and_merge(ffmpeg: str | None, path: Path, scratch: Path, candidates: list[str], fetch) -> dict:
    audio = scratch / "audio.mp4"
    source, failures = None, []
    folder = candidates[0].rpartition("/")[0]
    with _known_audio_lock:
        known = _known_audio.get(folder)
    if known in candidates:
        candidates = [known] + [url for url in candidates if url != known]
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
    with _known_audio_lock:
        _known_audio[folder] = source
        _known_audio.move_to_end(folder)
        while len(_known_audio) > KNOWN_AUDIO_MAX:
            _known_audio.popitem(last=False)

    merged = scratch / "merged.mp4"
    problem = _remux(path, audio, merged) if ffmpeg is None else _ffmpeg_merge(ffmpeg, path, audio, merged)
    if problem is None and (not merged.is_file() or merged.stat().st_size == 0):
        problem = "ffmpeg could not merge Reddit's separate audio stream (it wrote nothing)."
    if problem is not None:
        return _silent(SILENT + problem)
    os.replace(merged, path)
    return {"audio": "merged", "audio_source": source}


def _remux(video: Path, audio: Path, merged: Path) -> str | None:
    """The picture of `video` and the sound of `audio` into `merged`, in this process; None when
    done, else what went wrong. Packets are written in time order, so nothing is held back."""
    av = pyav()
    try:
        with av.open(str(video)) as vin, av.open(str(audio)) as ain:
            if not vin.streams.video or not ain.streams.audio:
                return "ffmpeg could not merge Reddit's separate audio stream (a stream is missing)."
            with av.open(str(merged), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                sources = [vin.streams.video[0], ain.streams.audio[0]]
                targets = [out.add_stream_from_template(s) for s in sources]

                def packets(index: int):
                    source = sources[index]
                    for packet in source.container.demux(source):
                        if packet.dts is not None:  # the demuxer's last, empty packet
                            yield float(packet.dts * packet.time_base), index, packet

                for _, index, packet in heapq.merge(packets(0), packets(1), key=lambda item: item[:2]):
                    packet.stream = targets[index]
                    out.mux(packet)
    except (av.FFmpegError, ValueError, OSError) as exc:
        merged.unlink(missing_ok=True)
        return f"ffmpeg could not merge Reddit's separate audio stream ({exc})."
    return None


def _ffmpeg_merge(ffmpeg: str, path: Path, audio: Path, merged: Path) -> str | None:
    command = [ffmpeg, "-y", "-v", "error", "-i", str(path), "-i", str(audio)]
    command += ["-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-movflags", "+faststart", str(merged)]
    try:
        # stdin closed: ffmpeg otherwise reads the terminal (or a worker's stdin) for commands.
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return f"ffmpeg took more than {FFMPEG_TIMEOUT} s to merge Reddit's separate audio stream."
    if result.returncode != 0 or not merged.is_file() or merged.stat().st_size == 0:
        lines = (result.stderr or "").strip().splitlines()
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        return f"ffmpeg could not merge Reddit's separate audio stream ({detail})."
    return None


def _silent(note: str) -> dict:
    return {"audio": "none", "audio_note": note}
