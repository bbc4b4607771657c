"""Official archives the platforms give their users (X's archive, Meta's "Download Your
Information", Google Takeout, Reddit's data request, GitHub's account export), turned into the
records and media of an export (DESIGN §1, §5 `import_archive`).

An upload is hostile until proven otherwise. Before any member is read, the archive's directory is
checked: its size once unpacked, its number of members, how much each member and the whole expand
(a zip bomb), member names that would escape a folder, links, encryption and damage. Nothing is
unpacked: members are streamed from the archive into storage, and JSON data files are read into
memory only up to a limit.

Each platform's importer (`platforms/<slug>/importer.py`) knows its archive's layout and maps its
files into the records the platform's extractor produces, so an imported tweet looks like a tweet
from the API. This module records what the importer yields: ExportRecord rows, and MediaFile rows
that are either stored from the archive ("done"), left for the downloader ("pending", when only a
URL is known) or "failed" with the reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
import tarfile
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from exports.download import EXT_MIME, WEB_FILE_EXTS, sniff, stored_name_for
from exports.models import ExportJob, ExportRecord, MediaFile
from exports.naming import safe_component
from platforms.base import ExtractorError, iso_utc
from platforms.models import Platform
from platforms.registry import available, get_extractor

# slug -> importer class, imported lazily (as platforms/registry.py does for extractors).
IMPORTERS = {
    "twitter": "platforms.twitter.importer.Importer",
    "facebook": "platforms.facebook.importer.Importer",
    "instagram": "platforms.instagram.importer.Importer",
    "youtube": "platforms.youtube.importer.Importer",
    "reddit": "platforms.reddit.importer.Importer",
    "github": "platforms.github.importer.Importer",
}

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
HEAD = 4096
MISSING = "not in the archive and no URL to fetch it from"
FINAL_CODES = ("refused", "damaged", "wrong_platform")

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


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


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


class BaseImporter:
    """What every platform's importer provides; see the module docstring."""

    slug = ""
    name = ""  # the platform as people name it, for messages: "X", "Facebook"
    article = "a"  # "an X archive", "a Facebook archive"
    expected = ""  # what detect() looks for, said to a person whose archive did not match

    def __init__(self):
        self.notes: list[str] = []
        self.skipped: list[dict] = []
        self.extractor = get_extractor(self.slug)

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
        for index, item in enumerate(items if isinstance(items, list) else []):
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
        raw = archive.read(name)
        try:
            text = raw.decode("utf-8-sig")
            if js:
                text = text[text.index("=") + 1 :].strip().rstrip(";")
            return json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            self.skip("", name, f"the data file could not be read ({type(exc).__name__}: {str(exc)[:120]})")
            return None

    def csv_rows(self, archive: ArchiveReader, name: str) -> list[dict[str, str]]:
        """The rows of a CSV member as dicts (header names stripped); [] when it cannot be read."""
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


def fix_mojibake(value: Any) -> Any:
    """Meta writes UTF-8 text as if each byte were a Latin-1 character ("Ã¸" for "ø"). Undo that
    wherever the round trip works; text that does not round-trip was not garbled and is kept."""
    if isinstance(value, str):
        try:
            return value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return value
    if isinstance(value, list):
        return [fix_mojibake(v) for v in value]
    if isinstance(value, dict):
        return {fix_mojibake(k): fix_mojibake(v) for k, v in value.items()}
    return value


@cache
def _importer_class(slug: str) -> type[BaseImporter]:
    try:
        dotted = IMPORTERS[slug]
    except KeyError:
        raise ExtractorError(f"There is no importer for {slug!r} archives.") from None
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)


def importer_for(slug: str) -> BaseImporter:
    return _importer_class(slug)()


def importer_available(slug: str) -> bool:
    try:
        _importer_class(slug)
    except (ExtractorError, ImportError, AttributeError):
        return False
    return True


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
            raise refused(f"{self.name} unpacks to more than the {_size(self.declared)} its header declares.")
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
                f"{name} is {_size(self.sizes[name])}; one data file may be at most {_size(most)} "
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
            f"it unpacks to {_size(total)}, more than the {_size(limit('IMPORT_MAX_BYTES'))} allowed "
            "(STAREXPORT_IMPORT_MAX_BYTES)."
        )


def _check_ratio(total: int, packed_size: int) -> None:
    ratio = limit("IMPORT_MAX_RATIO")
    if total > RATIO_FLOOR and total > ratio * max(packed_size, 1):
        raise refused(
            f"it unpacks to {_size(total)} from {_size(packed_size)}, more than {ratio}:1 — a zip bomb "
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
                f"{name} unpacks to {_size(info.file_size)} from {_size(info.compress_size)}, more than "
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
                    f"{name} would unpack to {_size(unpacked)} from {_size(fileobj.tell())} read, more than "
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


def archive_open(fileobj: IO[bytes], *, size: int | None = None) -> ArchiveReader:
    """Check an uploaded archive (ZIP, or tar / tar.gz) and open it; ExtractorError when refused."""
    if size is None:
        fileobj.seek(0, io.SEEK_END)
        size = fileobj.tell()
    fileobj.seek(0)
    head = fileobj.read(512)
    fileobj.seek(0)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _open_zip(fileobj, size)
    if head.startswith(b"\x1f\x8b") or (len(head) > 262 and head[257:262] == b"ustar"):
        return _open_tar(fileobj, size)
    if not head:
        raise damaged("the file is empty.")
    raise damaged("it is neither a ZIP nor a tar.gz file.")


def platform_detected(names: list[str]) -> str | None:
    for slug in IMPORTERS:
        if importer_available(slug) and importer_for(slug).detect(names):
            return slug
    return None


def archive_check_platform(reader: ArchiveReader, slug: str) -> BaseImporter:
    """The named platform's importer when the archive is that platform's; WrongPlatform otherwise."""
    wanted = importer_for(slug)
    names = reader.namelist()
    if wanted.detect(names):
        return wanted
    found = platform_detected(names)
    if found:
        other = importer_for(found)
        raise WrongPlatform(
            f"This looks like {other.article} {other.name} archive, not {wanted.article} {wanted.name} one.",
            detected=found,
        )
    raise WrongPlatform(f"This does not look like {wanted.article} {wanted.name} archive: {wanted.expected}")


def archive_inspect(fileobj: IO[bytes], *, platform_slug: str, size: int | None = None) -> None:
    """Refuse a hostile archive, or one of another platform, before it is stored or queued."""
    reader = archive_open(fileobj, size=size)
    try:
        archive_check_platform(reader, platform_slug)
    finally:
        reader.close()


# --- creating an import ------------------------------------------------------------------------
def upload_name_for(owner_id: int, job_id, basename: str) -> str:
    return f"uploads/{owner_id}/{job_id}/{safe_component(basename)}"


def import_job_create(
    *,
    owner,
    platform_slug: str,
    upload_name: str,
    upload_size: int | None,
    job_id: uuid.UUID | None = None,
    enqueue: bool = True,
) -> ExportJob:
    """An export job whose records come from an uploaded archive. Unlike an API export it needs no
    connected account (media the archive lacks are fetched from public URLs)."""
    from exports.services import ExportRequestError, enqueue_step, running_jobs_check

    platform = Platform.objects.filter(slug=platform_slug).first()
    if platform is None or not available(platform_slug) or not importer_available(platform_slug):
        raise ExportRequestError(f"Unknown platform {platform_slug!r}.", field="platform")
    if not platform.enabled:
        raise ExportRequestError(f"{platform.display_name} exports are switched off by the operator.", field="platform")
    formats = ["json", *(["csv"] if "csv" in platform.export_formats else [])]
    with transaction.atomic():
        running_jobs_check(owner)
        job = ExportJob.objects.create(
            id=job_id or uuid.uuid4(),
            owner=owner,
            platform=platform,
            source=ExportJob.Source.ARCHIVE,
            upload_name=upload_name,
            upload_size=upload_size,
            formats=formats,
            include_media=True,
            step="Waiting for a worker",
        )
        if enqueue:
            enqueue_step(job)
    return job


# --- the fetch step of an import ---------------------------------------------------------------
@dataclass
class Stored:
    ok: bool
    reason: str = ""
    size: int = 0
    sha256: str = ""
    content_type: str = ""
    ext: str = ""
    stored_name: str = ""


def media_store(
    reader: ArchiveReader, member: str, *, owner_id: int, platform: Platform, kind: str, ext: str
) -> Stored:
    """Stream a member into storage under its content address, checked as the downloader checks
    a download: not empty, within the platform's size limit, really of its kind.

    The address is the checksum, known only after a first pass; the second pass writes (unless the
    same bytes are stored already) and checks that it wrote those very bytes.
    """
    declared = reader.size(member)
    if declared > platform.max_file_size:
        return Stored(
            False,
            f"the file is {_size(declared)}, over {platform.display_name}'s limit of {_size(platform.max_file_size)}",
        )
    digest, size, head = hashlib.sha256(), 0, b""
    with reader.open(member) as f:
        while block := f.read(CHUNK):
            if len(head) < HEAD:
                head += block[: HEAD - len(head)]
            digest.update(block)
            size += len(block)
    if size == 0:
        return Stored(False, "the file in the archive is empty")
    sniffed_ext, mime = sniff(head)
    if kind == "file":
        ext = ext or sniffed_ext or "bin"
        mime = EXT_MIME.get(ext, mime or "application/octet-stream")
    else:
        shown = sniffed_ext.upper() if sniffed_ext else mime or "of an unknown type"
        if sniffed_ext == "html" or not mime.startswith(f"{kind}/"):
            return Stored(False, f"the file in the archive is {shown}, not {'an' if kind == 'image' else 'a'} {kind}")
        allowed = platform.allowed_formats(kind)
        # A platform whose API never hands out this kind (YouTube's videos) lists no formats for it;
        # the archive's own originals are still the user's to keep.
        if allowed and sniffed_ext not in {*allowed, *(("jpg", "jpeg") if {"jpg", "jpeg"} & set(allowed) else ())}:
            return Stored(
                False,
                f"the file is {shown}, which is not one of {platform.display_name}'s {kind} formats "
                f"({', '.join(allowed)})",
            )
        ext = sniffed_ext
    if kind == "file" and sniffed_ext == "html" and ext not in WEB_FILE_EXTS:
        return Stored(False, "the file in the archive is a web page (HTML)")
    sha256 = digest.hexdigest()
    name = stored_name_for(owner_id, sha256)
    if not default_storage.exists(name):
        with reader.open(member) as f:
            hashing = _Hashing(f, size)
            try:
                saved = default_storage.save(name, File(io.BufferedReader(hashing, CHUNK), name=name))
            except ExtractorError:
                # A partial file must not sit under the address of the complete one.
                if default_storage.exists(name) and default_storage.size(name) != size:
                    default_storage.delete(name)
                raise
        if hashing.digest.hexdigest() != sha256:
            default_storage.delete(saved)
            raise damaged(f"{member} read differently twice.")
        name = saved
    return Stored(True, size=size, sha256=sha256, content_type=mime, ext=ext, stored_name=name)


def media_pack(reader: ArchiveReader, folder: str, *, job: ExportJob) -> Stored:
    """Every member under `folder` as one ZIP, stored under its content address. The ZIP is written
    once, to the job's own temporary folder, then moved into storage; nothing else touches disk."""
    from zipstream import ZIP_STORED, ZipStream

    platform = job.platform
    members = [n for n in reader.namelist() if n.startswith(folder)]
    declared = sum(reader.size(n) for n in members)
    if declared > platform.max_file_size:
        return Stored(
            False,
            f"the folder is {_size(declared)}, over {platform.display_name}'s limit of {_size(platform.max_file_size)}",
        )
    # Paths inside the ZIP start at the folder itself (`name.git/HEAD`), as it would unpack.
    parent = folder.rstrip("/").rsplit("/", 1)[0] + "/" if "/" in folder.rstrip("/") else ""
    stream = ZipStream(compress_type=ZIP_STORED)

    def chunks(name: str):
        with reader.open(name) as f:
            while block := f.read(CHUNK):
                yield block

    for name in members:
        stream.add(chunks(name), name[len(parent) :])
    temp = job_temp_dir(job)
    path = temp / (hashlib.sha1(folder.encode()).hexdigest() + ".zip")
    digest, size = hashlib.sha256(), 0
    try:
        with open(path, "wb") as out:
            for block in stream:
                digest.update(block)
                size += len(block)
                out.write(block)
        sha256 = digest.hexdigest()
        name = stored_name_for(job.owner_id, sha256)
        if not default_storage.exists(name):
            with open(path, "rb") as f:
                name = default_storage.save(name, File(f, name=name))
    finally:
        path.unlink(missing_ok=True)
        _remove_empty(temp)
    return Stored(True, size=size, sha256=sha256, content_type="application/zip", ext="zip", stored_name=name)


def job_temp_dir(job: ExportJob) -> Path:
    """The one place on local disk an import may write: beside the downloader's partial files."""
    path = Path(settings.VAR_DIR) / "partial" / str(job.id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remove_empty(path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


class _Hashing(io.RawIOBase):
    """The second pass over a member, hashed again as storage consumes it."""

    def __init__(self, f: IO[bytes], size: int):
        self.f, self.size = f, size
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        data = self.f.read(len(target))
        self.digest.update(data)
        target[: len(data)] = data
        return len(data)


class ImportRecorder:
    """Writes what an importer yields into the job: records in batches, one MediaFile per media id."""

    BATCH = 200

    def __init__(self, job: ExportJob, reader: ArchiveReader, importer: BaseImporter):
        self.job, self.reader, self.importer = job, reader, importer
        self.platform = job.platform
        self.position = job.records.count()
        self.batch: list[ExportRecord] = []
        self.records = 0
        self.media = 0
        self.missing = 0
        self.first: str | None = None
        self.last: str | None = None
        self.account_record: dict | None = None
        self.last_report = 0.0

    def run(self) -> None:
        account_resource = self.importer.extractor.account_resource
        for resource, record, media in self.importer.records(self.reader):
            self.add(resource, record)
            if resource == account_resource and self.account_record is None:
                self.account_record = record
            for item in media:
                self.add_media(item)
            self.report()
        self.flush()

    def add(self, resource: str, record: dict) -> None:
        self.position += 1
        self.records += 1
        record_id = self.importer.record_id(resource, record) or f"#{self.position}"
        timestamp = self.importer.record_timestamp(resource, record) or ""
        if timestamp and resource != self.importer.extractor.account_resource:
            self.first = min(self.first or timestamp, timestamp)
            self.last = max(self.last or timestamp, timestamp)
        self.batch.append(
            ExportRecord(
                job=self.job,
                resource=resource,
                external_id=record_id[:255],
                position=self.position,
                timestamp=timestamp,
                data=record,
            )
        )
        if len(self.batch) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            ExportRecord.objects.bulk_create(self.batch, ignore_conflicts=True)
            self.batch = []

    def add_media(self, item: ImportedMedia) -> None:
        existing = MediaFile.objects.filter(job=self.job, media_id=item.media_id).first()
        if existing is not None:
            self._also_used_by(existing, item.record_id)
            return
        extra = dict(item.extra or {})
        row = MediaFile(
            job=self.job,
            media_id=item.media_id[:255],
            source_url=(item.url or "")[:4096],
            kind=item.kind,
            ext=item.ext[:16],
            record_ids=[item.record_id],
            timestamp=item.timestamp or "",
            caption=item.caption or "",
            extra=extra,
        )
        if item.folder and any(n.startswith(item.folder) for n in self.reader.namelist()):
            extra["archive_folder"] = item.folder
            try:
                stored = media_pack(self.reader, item.folder, job=self.job)
            except ExtractorError as exc:
                stored = Stored(False, exc.message)
            self._stored(row, stored, item.folder)
        elif item.member and self.reader.exists(item.member):
            extra["archive_member"] = item.member
            try:
                stored = media_store(
                    self.reader,
                    item.member,
                    owner_id=self.job.owner_id,
                    platform=self.platform,
                    kind=item.kind,
                    ext=item.ext,
                )
            except ExtractorError as exc:
                # One damaged photo costs that photo, not the whole import.
                stored = Stored(False, exc.message)
            self._stored(row, stored, item.member)
        else:
            if item.member or item.folder:
                extra["missing_from_archive"] = item.member or item.folder
                self.missing += 1
            if item.url:
                row.status = MediaFile.Status.PENDING
            else:
                row.status, row.last_error = MediaFile.Status.FAILED, MISSING
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            self._also_used_by(MediaFile.objects.get(job=self.job, media_id=row.media_id), item.record_id)
            return
        self.media += 1

    @staticmethod
    def _stored(row: MediaFile, stored: Stored, source: str) -> None:
        if stored.ok:
            row.status = MediaFile.Status.DONE
            row.size, row.sha256 = stored.size, stored.sha256
            row.content_type, row.stored_name = stored.content_type, stored.stored_name
            row.ext = (stored.ext or row.ext)[:16]
        else:
            row.status, row.last_error = MediaFile.Status.FAILED, f"{source}: {stored.reason}"

    @staticmethod
    def _also_used_by(existing: MediaFile, record_id: str) -> None:
        if record_id not in existing.record_ids:
            existing.record_ids = [*existing.record_ids, record_id]
            existing.save(update_fields=["record_ids", "updated_at"])

    def report(self, *, force: bool = False) -> None:
        from exports.services import FETCH_SHARE_WITH_MEDIA, job_renew_lease

        now = time.monotonic()
        if not force and now - self.last_report < 1.0:
            return
        self.last_report = now
        share = FETCH_SHARE_WITH_MEDIA
        progress = min(share - 1, int(share * self.reader.bytes_read / max(1, self.reader.total)))
        job_renew_lease(
            self.job,
            step=f"Reading the archive: {self.records:,} records, {self.media:,} media files",
            progress=max(self.job.progress, progress),
        )

    def coverage_note(self) -> str:
        if not self.first:
            return "The archive has no dated records."
        if self.first[:10] == self.last[:10]:
            return f"archive covers {self.first[:10]}"
        return f"archive covers {self.first[:10]} to {self.last[:10]}"


def job_import(job: ExportJob) -> None:
    """The fetch step of an import: check the uploaded archive, then record what it holds."""
    if not job.upload_name:
        raise ExtractorError("This import has no uploaded archive.")
    try:
        upload = default_storage.open(job.upload_name, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise ExtractorError(f"The uploaded archive is gone from storage ({exc}); upload it again.") from exc
    try:
        with upload:
            reader = archive_open(upload, size=job.upload_size or None)
            try:
                importer = archive_check_platform(reader, job.platform_id)
                recorder = ImportRecorder(job, reader, importer)
                recorder.run()
                account = importer.account(reader) or recorder.account_record
            finally:
                reader.close()
    except ExtractorError as exc:
        # Trying again cannot help an archive that was refused, and a hostile one is not kept.
        if exc.code in FINAL_CODES:
            _delete_quietly(job.upload_name)
        raise
    notes = [recorder.coverage_note(), *importer.notes]
    if recorder.missing:
        notes.append(
            f"{recorder.missing:,} files the archive's data names are not in it: they are fetched from the "
            "platform where a URL is known, and listed as missing otherwise. A platform that splits a large "
            "download into several parts keeps some files in the other parts."
        )
    ExportJob.objects.filter(id=job.id).update(
        account=account,
        notes=list(dict.fromkeys([*job.notes, *notes])),
        records_count=job.records.count(),
        skipped_records=importer.skipped[:1000],
    )
    job.refresh_from_db()
    # The upload has served its purpose: what it held is now records and content-addressed media.
    _delete_quietly(job.upload_name)


def _delete_quietly(name: str) -> None:
    try:
        default_storage.delete(name)
    except OSError:
        pass


def iso_from(value: Any) -> str | None:
    """iso_utc, also for the platforms' `2025-05-18 04:35:32 UTC` and X's `Mon Jun 26 10:57:22 +0000 2017`."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(" UTC"):
            text = text[:-4].replace(" ", "T") + "Z"
        else:
            try:
                return iso_utc(datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y").isoformat())
            except ValueError:
                pass
        if text.isdigit():
            return iso_utc(int(text))
        return iso_utc(text)
    return iso_utc(value)
