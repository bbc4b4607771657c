"""The importer contract and the safe archive reader (DESIGN §1, §5 `import_archive`).

Official archives the platforms give their users (X's archive, Meta's "Download Your
Information", Google Takeout, Reddit's data request, GitHub's account export) are read by one
importer per platform (`platforms/<slug>/importer.py`), which maps the archive's files into the
records the platform's extractor produces, so an imported tweet looks like a tweet from the API.

An upload is hostile until proven otherwise. Before any member is read, the archive's directory is
checked: its size once unpacked, its number of members, how much each member and the whole expand
(a zip bomb), member names that would escape a folder, links, encryption and damage. Nothing is
unpacked: members are streamed, and JSON data files are read into memory only up to a limit.

Nothing here knows a job or a row: the exports app writes what importers yield.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.conf import settings

from platforms.base import ExtractorError, iso_utc
from platforms.mediatypes import size_text
from platforms.registry import get_extractor, get_importer, importer_available, importer_slugs

# Limits: `settings.STAREXPORT[key]` wins, then the environment variable `STAREXPORT_<key>`,
# then the default here.
LIMIT_DEFAULTS = {
    "IMPORT_MAX_BYTES": 20 * 1024**3,  # all members together, unpacked
    "IMPORT_MAX_MEMBERS": 200_000,
    "IMPORT_MAX_RATIO": 200,  # unpacked : packed, per member and for the whole archive
    "IMPORT_MAX_JSON_BYTES": 512 * 1024**2,  # one data file read into memory
}
# Small members compress far better than big ones can (a 40 KB JSON of blanks): below this size a
# member is never called a bomb, and the whole archive is judged only once it is this large.
RATIO_FLOOR = 1024 * 1024
CHUNK = 1 << 20
JS_BLOCK = 256 * 1024

# Reddit and YouTube write long texts into one CSV field (a post body, a description).
csv.field_size_limit(16 * 1024 * 1024)


def limit(key: str) -> int:
    value = settings.STAREXPORT.get(key)
    if value is None:
        value = os.environ.get(f"STAREXPORT_{key}") or LIMIT_DEFAULTS[key]
    return int(value)


class WrongPlatform(ExtractorError):
    """The archive is not the named platform's (or of no platform we know)."""

    def __init__(self, message: str, *, detected: str | None = None):
        super().__init__(message, code="wrong_platform")
        self.detected = detected


def refused(message: str) -> ExtractorError:
    return ExtractorError(f"The archive was refused: {message}", code="refused")


def damaged(message: str) -> ExtractorError:
    return ExtractorError(f"The archive is damaged: {message}", code="damaged")


# --- what importers yield ----------------------------------------------------------------------
@dataclass
class ImportedMedia:
    """A file a record refers to: a member of the archive (`member`), a URL to fetch it from when
    the archive does not hold it (`url`), or both."""

    member: str | None
    url: str = ""
    kind: str = "image"
    media_id: str = ""
    record_id: str = ""
    timestamp: str | None = None
    caption: str = ""
    ext: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # A folder of the archive kept as one ZIP file (a git repository), instead of one member.
    folder: str | None = None

    @classmethod
    def from_item(cls, item, member: str | None = None) -> ImportedMedia:
        """The extractor's MediaItem for the same file, found in the archive as `member` (or not)."""
        return cls(
            member=member,
            url=item.url,
            kind=item.kind,
            media_id=item.media_id,
            record_id=item.record_id,
            timestamp=item.timestamp,
            caption=item.caption,
            ext=item.ext,
            extra=item.extra,
        )

    def __post_init__(self):
        self.ext = (self.ext or "").lower().lstrip(".")
        self.media_id = str(self.media_id)
        self.record_id = str(self.record_id)


def meaning(text: str) -> str:
    """A name as its letters and digits alone, case and accents folded: `Video metadata/`,
    `video_metadata` and `Vidéo-Metadata` mean the same folder."""
    folded = unicodedata.normalize("NFKD", text).casefold()
    return "".join(c for c in folded if c.isalnum() and not unicodedata.combining(c))


def meanings(*names: str) -> frozenset[str]:
    return frozenset(meaning(n) for n in names)


# Why a member that is not read was left, when the importer has no better word for it.
NOT_CONTENT = "not a kind of content this import reads"
LEFT_OUT = "left out, as asked (messages and history)"
UNREFERENCED = "a file no data file of the archive refers to"


class BaseImporter:
    """What every platform's importer provides; see the module docstring."""

    slug = ""
    name = ""  # the platform as people name it, for messages: "X", "Facebook"
    article = "a"  # "an X archive", "a Facebook archive"
    expected = ""  # what detect() looks for, said to a person whose archive did not match
    # (pattern, reason) for the members an importer knows and does not read: an import names every
    # member it leaves, with its reason.
    others: tuple[tuple[re.Pattern, str], ...] = ()
    # Data files of sensitive kinds (messages, history): read unless the person asked to leave them out.
    sensitive: tuple[re.Pattern, ...] = ()
    # Media files: a member like these that no record used is a file no data file refers to.
    media_member = re.compile(
        r"\.(?:jpe?g|png|gif|webp|heic|bmp|tiff?|mp4|mov|m4v|webm|mkv|avi|3gp|mp3|m4a|aac|wav|ogg|opus)$", re.I
    )

    def __init__(self):
        self.notes: list[str] = []
        self.skipped: list[dict] = []
        self.extractor = get_extractor(self.slug)
        self.skip_sensitive = False
        # Members the importer read (data files) or whose bytes a record uses (media).
        self.used: set[str] = set()
        self.left_out: dict[str, str] = {}

    # --- accounting for every member ---------------------------------------------------------
    def wanted(self, name: str) -> bool:
        """False for a sensitive data file the person asked to leave out (remembered as such)."""
        if self.skip_sensitive and any(p.search(name) for p in self.sensitive):
            self.left_out[name] = LEFT_OUT
            return False
        return True

    def why_not_read(self, name: str) -> str:
        if name in self.left_out:
            return self.left_out[name]
        if self.skip_sensitive and any(p.search(name) for p in self.sensitive):
            return LEFT_OUT
        for pattern, reason in self.others:
            if pattern.search(name):
                return reason
        if self.media_member.search(name):
            return UNREFERENCED
        return NOT_CONTENT

    def unread(self, names: list[str]) -> dict[str, str]:
        """Every member neither read nor used by a record, with the reason."""
        return {n: self.why_not_read(n) for n in names if n not in self.used}

    def detect(self, names: list[str]) -> bool:
        raise NotImplementedError

    def records(self, archive: ArchiveReader) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        """(resource, record, media) for every record, all records of one resource in a row."""
        raise NotImplementedError

    def account(self, archive: ArchiveReader) -> dict | None:
        """The profile record (the export's `account`), read after `records()`."""
        return None

    def record_id(self, resource: str, record: dict) -> str:
        return self.extractor.record_id(resource, record)

    def record_timestamp(self, resource: str, record: dict) -> str | None:
        return self.extractor.record_timestamp(resource, record)

    # --- helpers for importers -------------------------------------------------------------
    def skip(self, resource: str, record_id: str, reason: str) -> None:
        self.skipped.append({"resource": resource, "record_id": str(record_id or ""), "reason": reason})

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def each(self, resource: str, items, mapper: Callable[[Any], tuple[dict, list[ImportedMedia]] | None], *, where=""):
        """Map every item; one that cannot be read is skipped with its reason, and the rest go on."""
        if not isinstance(items, list) and not isinstance(items, Iterator):
            items = []
        for index, item in enumerate(items):
            try:
                mapped = mapper(item)
            except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
                hint = _id_hint(item) or f"#{index + 1}{f' in {where}' if where else ''}"
                self.skip(resource, hint, f"could not be read: {type(exc).__name__}: {exc}")
                continue
            if mapped is not None:
                yield (resource, *mapped)

    def load_json(self, archive: ArchiveReader, name: str, *, js: bool = False) -> Any:
        """A JSON (or X's `window.YTD.x.part0 = [...]`) data file; None, listed as skipped, when it
        cannot be read."""
        self.used.add(name)
        raw = archive.read(name)
        try:
            text = raw.decode("utf-8-sig")
            if js:
                text = text[text.index("=") + 1 :].strip().rstrip(";")
            return json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            self.skip("", name, f"the data file could not be read ({type(exc).__name__}: {str(exc)[:120]})")
            return None

    def js_items(self, archive: ArchiveReader, name: str) -> Iterator[Any]:
        """The items of X's `window.YTD.x.part0 = [ ... ]` one at a time, decoded from a streamed
        buffer: a big tweets.js is never whole in memory. A file that cannot be read is skipped
        with its reason, and the items before the damage are kept."""
        self.used.add(name)
        decoder = json.JSONDecoder()
        try:
            with archive.open(name) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig")
                buffer, pos, eof, want = "", 0, False, JS_BLOCK

                def more() -> bool:
                    nonlocal buffer, pos, eof
                    block = text.read(want)
                    if not block:
                        eof = True
                        return False
                    buffer = buffer[pos:] + block
                    pos = 0
                    return True

                # The JavaScript before the array: `window.YTD.tweets.part0 = `.
                while "[" not in buffer[pos:] and more():
                    pass
                start = buffer.find("[", pos)
                if start < 0:
                    raise ValueError("no JSON array in the file")
                pos = start + 1
                while True:
                    while True:
                        while pos < len(buffer) and buffer[pos] in " \t\r\n,":
                            pos += 1
                        if pos < len(buffer) or not more():
                            break
                    if pos >= len(buffer):
                        raise ValueError("the array is not closed; the file was cut short")
                    if buffer[pos] == "]":
                        return
                    try:
                        item, end = decoder.raw_decode(buffer, pos)
                    except json.JSONDecodeError:
                        # Most likely an item cut by the block's end: read on (more each time, so a
                        # huge item costs a few decodes, not one per block).
                        if eof:
                            raise
                        want = min(want * 2, JS_BLOCK * 64)
                        more()
                        continue
                    want = JS_BLOCK
                    pos = end
                    yield item
        except (ValueError, UnicodeDecodeError) as exc:
            self.skip("", name, f"the data file could not be read ({type(exc).__name__}: {str(exc)[:120]})")

    def csv_rows(self, archive: ArchiveReader, name: str) -> list[dict[str, str]]:
        """The rows of a CSV member as dicts (header names stripped); [] when it cannot be read."""
        self.used.add(name)
        try:
            with archive.open(name) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                reader = csv.DictReader(text)
                return [{(k or "").strip(): (v or "") for k, v in row.items()} for row in reader]
        except (csv.Error, UnicodeDecodeError) as exc:
            self.skip("", name, f"the CSV file could not be read ({type(exc).__name__}: {str(exc)[:120]})")
            return []


def _id_hint(item: Any) -> str:
    if isinstance(item, dict):
        inner = next((v for v in item.values() if isinstance(v, dict)), {}) if len(item) == 1 else item
        for key in ("id_str", "id", "uri", "Video ID", "name"):
            if isinstance(inner, dict) and inner.get(key):
                return str(inner[key])[:120]
    return ""


# --- reading an archive safely -----------------------------------------------------------------
class MemberStream(io.RawIOBase):
    """One member's bytes: never more than the archive declares, and a damaged member is an
    ExtractorError a person can read rather than a zlib error."""

    def __init__(self, raw: IO[bytes], name: str, declared: int, on_read: Callable[[int], None] | None = None):
        self.raw, self.name, self.declared, self.on_read = raw, name, declared, on_read
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        try:
            data = self.raw.read(len(target))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, tarfile.TarError) as exc:
            raise damaged(f"{self.name} cannot be read ({exc}).") from exc
        n = len(data)
        self.count += n
        if self.count > self.declared:
            raise refused(f"{self.name} unpacks to more than the {size_text(self.declared)} its header declares.")
        target[:n] = data
        if self.on_read:
            self.on_read(n)
        return n

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            super().close()


def check_member_name(name: str) -> str | None:
    """Why a member's name is unsafe to have in an archive, or None."""
    if "\x00" in name:
        return "contains a NUL character"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "is an absolute path"
    if re.match(r"^[A-Za-z]:", name):
        return "starts with a drive letter"
    if ".." in name.split("/"):
        return "climbs out of its folder with '..'"
    return None


class ArchiveReader:
    """A checked archive: the names of its files, their sizes, and streams over them."""

    kind = ""

    def __init__(self, sizes: dict[str, int], packed_size: int):
        self.sizes = sizes
        self.packed_size = packed_size
        self.total = sum(sizes.values())
        self.bytes_read = 0

    def namelist(self) -> list[str]:
        return list(self.sizes)

    def exists(self, name: str) -> bool:
        return name in self.sizes

    def size(self, name: str) -> int:
        return self.sizes[name]

    def open(self, name: str) -> io.BufferedReader:
        if name not in self.sizes:
            raise KeyError(name)
        return io.BufferedReader(MemberStream(self._open(name), name, self.sizes[name], self._count), CHUNK)

    def read(self, name: str) -> bytes:
        """A data file read whole into memory, within IMPORT_MAX_JSON_BYTES."""
        most = limit("IMPORT_MAX_JSON_BYTES")
        if self.sizes[name] > most:
            raise refused(
                f"{name} is {size_text(self.sizes[name])}; one data file may be at most {size_text(most)} "
                "(STAREXPORT_IMPORT_MAX_JSON_BYTES)."
            )
        with self.open(name) as f:
            return f.read()

    def _count(self, n: int) -> None:
        self.bytes_read += n

    def _open(self, name: str) -> IO[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ZipReader(ArchiveReader):
    kind = "zip"

    def __init__(self, zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], packed_size: int):
        super().__init__({n: i.file_size for n, i in infos.items()}, packed_size)
        self.zf, self.infos = zf, infos

    def _open(self, name: str) -> IO[bytes]:
        return self.zf.open(self.infos[name])

    def close(self) -> None:
        self.zf.close()


class TarReader(ArchiveReader):
    """GitHub's account export is a .tar.gz. Reading a member seeks in the compressed stream, which
    gzip does by decompressing from the start: fine for the few data files importers read."""

    kind = "tar"

    def __init__(self, tf: tarfile.TarFile, infos: dict[str, tarfile.TarInfo], packed_size: int):
        super().__init__({n: i.size for n, i in infos.items()}, packed_size)
        self.tf, self.infos = tf, infos

    def _open(self, name: str) -> IO[bytes]:
        try:
            f = self.tf.extractfile(self.infos[name])
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise damaged(f"{name} cannot be read ({exc}).") from exc
        if f is None:
            raise damaged(f"{name} is not a file.")
        return f

    def close(self) -> None:
        self.tf.close()


def _check_totals(count: int, total: int, packed_size: int) -> None:
    if count > limit("IMPORT_MAX_MEMBERS"):
        raise refused(
            f"it has {count:,} files, more than the {limit('IMPORT_MAX_MEMBERS'):,} allowed "
            "(STAREXPORT_IMPORT_MAX_MEMBERS)."
        )
    if total > limit("IMPORT_MAX_BYTES"):
        raise refused(
            f"it unpacks to {size_text(total)}, more than the {size_text(limit('IMPORT_MAX_BYTES'))} allowed "
            "(STAREXPORT_IMPORT_MAX_BYTES)."
        )


def _check_ratio(total: int, packed_size: int) -> None:
    ratio = limit("IMPORT_MAX_RATIO")
    if total > RATIO_FLOOR and total > ratio * max(packed_size, 1):
        raise refused(
            f"it unpacks to {size_text(total)} from {size_text(packed_size)}, more than {ratio}:1 — a zip bomb "
            "(STAREXPORT_IMPORT_MAX_RATIO)."
        )


def _open_zip(fileobj: IO[bytes], packed_size: int) -> ZipReader:
    try:
        zf = zipfile.ZipFile(fileobj)
        listed = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise damaged(f"it is not a complete ZIP file ({exc}); it may have been cut short while downloading.") from exc
    try:
        return ZipReader(zf, _zip_members(listed, packed_size), packed_size)
    except ExtractorError:
        zf.close()
        raise


def _zip_members(listed: list[zipfile.ZipInfo], packed_size: int) -> dict[str, zipfile.ZipInfo]:
    ratio = limit("IMPORT_MAX_RATIO")
    infos: dict[str, zipfile.ZipInfo] = {}
    _check_totals(len(listed), sum(i.file_size for i in listed), packed_size)
    for info in listed:
        name = info.filename
        problem = check_member_name(name)
        if problem:
            raise refused(f"the member name {name!r} {problem}.")
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            raise refused(f"{name} is a symbolic link.")
        if info.flag_bits & 0x1:
            raise refused(f"{name} is encrypted; export the archive again without a password.")
        if info.header_offset + info.compress_size > packed_size:
            raise damaged(f"{name} lies beyond the end of the file; it was cut short while downloading.")
        if info.file_size > RATIO_FLOOR and info.file_size > ratio * max(info.compress_size, 1):
            raise refused(
                f"{name} unpacks to {size_text(info.file_size)} from {size_text(info.compress_size)}, more than "
                f"{ratio}:1 — a zip bomb (STAREXPORT_IMPORT_MAX_RATIO)."
            )
        if info.is_dir():
            continue
        if name in infos:
            raise refused(f"{name} is in it twice.")
        infos[name] = info
    # Each member was reasonable; together they may still be a bomb.
    _check_ratio(sum(i.file_size for i in listed), packed_size)
    return infos


def _open_tar(fileobj: IO[bytes], packed_size: int) -> TarReader:
    """A tar's directory is spread through its (compressed) stream: the limits are checked member by
    member while it is read, so a bomb is refused before its body is decompressed."""
    ratio = limit("IMPORT_MAX_RATIO")
    infos: dict[str, tarfile.TarInfo] = {}
    count = total = 0
    try:
        tf = tarfile.open(fileobj=fileobj, mode="r:*")
        while (member := tf.next()) is not None:
            name = member.name.removeprefix("./")
            count += 1
            total += member.size if member.isfile() else 0
            _check_totals(count, total, packed_size)
            unpacked = member.offset_data + member.size
            if unpacked > RATIO_FLOOR and unpacked > ratio * max(fileobj.tell(), 1):
                raise refused(
                    f"{name} would unpack to {size_text(unpacked)} from {size_text(fileobj.tell())} read, more than "
                    f"{ratio}:1 — a zip bomb (STAREXPORT_IMPORT_MAX_RATIO)."
                )
            problem = check_member_name(name)
            if problem:
                raise refused(f"the member name {name!r} {problem}.")
            if member.issym() or member.islnk():
                raise refused(f"{name} is a link.")
            if member.isdir():
                continue
            if not member.isfile() or member.issparse():
                raise refused(f"{name} is not a plain file.")
            if name in infos:
                raise refused(f"{name} is in it twice.")
            infos[name] = member
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise damaged(
            f"it is not a complete tar archive ({exc}); it may have been cut short while downloading."
        ) from exc
    _check_ratio(total, packed_size)
    return TarReader(tf, infos, packed_size)


NOT_AN_ARCHIVE = "it is neither a ZIP nor a tar.gz file."


def archive_kind(head: bytes) -> str | None:
    """ "zip" or "tar" as a file's first bytes say (its first 512 show a plain tar), None otherwise."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b") or (len(head) > 262 and head[257:262] == b"ustar"):
        return "tar"
    return None


def archive_open(fileobj: IO[bytes], *, size: int | None = None) -> ArchiveReader:
    """Check an uploaded archive (ZIP, or tar / tar.gz) and open it; ExtractorError when refused."""
    if size is None:
        fileobj.seek(0, io.SEEK_END)
        size = fileobj.tell()
    fileobj.seek(0)
    head = fileobj.read(512)
    fileobj.seek(0)
    kind = archive_kind(head)
    if kind == "zip":
        return _open_zip(fileobj, size)
    if kind == "tar":
        return _open_tar(fileobj, size)
    if not head:
        raise damaged("the file is empty.")
    raise damaged(NOT_AN_ARCHIVE)


class PartsReader(ArchiveReader):
    """The parts of one download read as one archive: Takeout and Meta split a big download into
    `…-001.zip`, `…-002.zip`, …, and a record in one part often names a file in another."""

    kind = "parts"

    def __init__(self, readers: list[ArchiveReader]):
        sizes: dict[str, int] = {}
        self.owner: dict[str, ArchiveReader] = {}
        for reader in readers:
            for name, size in reader.sizes.items():
                # Takeout repeats a few files (archive_browser.html) in every part: one is enough.
                if name not in sizes:
                    sizes[name] = size
                    self.owner[name] = reader
        super().__init__(sizes, sum(r.packed_size for r in readers))
        self.readers = readers
        _check_totals(len(sizes), self.total, self.packed_size)

    def _open(self, name: str) -> IO[bytes]:
        return self.owner[name]._open(name)

    def close(self) -> None:
        for reader in self.readers:
            reader.close()


def archive_open_parts(parts: list[tuple[IO[bytes], int | None]], *, names: list[str] | None = None) -> ArchiveReader:
    """Several parts of one download (each checked as an archive of its own) as one archive. With
    the parts' `names`, a refusal of one of several names that part."""
    readers: list[ArchiveReader] = []
    try:
        for position, (fileobj, size) in enumerate(parts):
            try:
                readers.append(archive_open(fileobj, size=size))
            except ExtractorError as exc:
                if names and len(parts) > 1:
                    raise ExtractorError(f"{names[position]}: {exc.message}", code=exc.code) from exc
                raise
        return readers[0] if len(readers) == 1 else PartsReader(readers)
    except ExtractorError:
        for reader in readers:
            reader.close()
        raise


def platform_detected(names: list[str]) -> str | None:
    for slug in importer_slugs():
        if importer_available(slug) and get_importer(slug).detect(names):
            return slug
    return None


def archive_check_platform(reader: ArchiveReader, slug: str, *, one_part: bool = False) -> BaseImporter | None:
    """The named platform's importer when the archive is that platform's; WrongPlatform otherwise.
    For `one_part` of a download that may come in several, names no platform recognises may be a
    later part's (Takeout's `-002.zip` holds only videos): None, not a refusal."""
    wanted = get_importer(slug)
    names = reader.namelist()
    if wanted.detect(names):
        return wanted
    found = platform_detected(names)
    if found:
        other = get_importer(found)
        raise WrongPlatform(
            f"This looks like {other.article} {other.name} archive, not {wanted.article} {wanted.name} one.",
            detected=found,
        )
    if one_part:
        return None
    raise WrongPlatform(f"This does not look like {wanted.article} {wanted.name} archive: {wanted.expected}")


def archive_inspect(
    fileobj: IO[bytes] | list, *, platform_slug: str, size: int | None = None, names: list[str] | None = None
) -> None:
    """Refuse a hostile archive, or one of another platform, before it is stored or queued. Several
    parts of one download are given as a list of (file, size), and their `names` for messages."""
    reader = archive_open_parts(fileobj if isinstance(fileobj, list) else [(fileobj, size)], names=names)
    try:
        archive_check_platform(reader, platform_slug)
    finally:
        reader.close()


class TailTooShort(Exception):
    """The ZIP's directory begins before the bytes at hand."""


class TailFile(io.RawIOBase):
    """A file of `size` bytes of which only the last ones (`tail`) are at hand: enough for zipfile
    to read a ZIP's directory, which sits at the end of the file, before the rest has arrived."""

    def __init__(self, tail: bytes, size: int):
        self.tail, self.size = tail, size
        self.start = size - len(tail)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the file")
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, target) -> int:
        if self.pos >= self.size:
            return 0
        if self.pos < self.start:
            raise TailTooShort
        data = self.tail[self.pos - self.start : self.pos - self.start + len(target)]
        target[: len(data)] = data
        self.pos += len(data)
        return len(data)


def archive_tail_check(tail: bytes, *, size: int, platform_slug: str) -> None:
    """What the last bytes of a ZIP of `size` bytes say before the rest is sent: its directory is
    whole and safe (names, links, encryption, a bomb), and its members are not another platform's.
    A directory longer than `tail` is left for the check of the whole file."""
    try:
        reader = _open_zip(TailFile(tail, size), size)
    except TailTooShort:
        return
    try:
        archive_check_platform(reader, platform_slug, one_part=True)
    finally:
        reader.close()


def iso_from(value: Any, *, formats: tuple[str, ...] = ()) -> str | None:
    """iso_utc, also for the platforms' `2025-05-18 04:35:32 UTC`, epoch seconds as text, and any
    strptime `formats` a platform writes (X: `Mon Jun 26 10:57:22 +0000 2017`)."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(" UTC"):
            text = text[:-4].replace(" ", "T") + "Z"
        for fmt in formats:
            try:
                return iso_utc(datetime.strptime(text, fmt).isoformat())
            except ValueError:
                pass
        if text.isdigit():
            return iso_utc(int(text))
        return iso_utc(text)
    return iso_utc(value)
