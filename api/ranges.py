"""A file answered whole or in one byte range (RFC 9110 §14), so a broken download resumes."""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.http import HttpResponse, StreamingHttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
BLOCK = 256 * 1024


def byte_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """(first, last) for one satisfiable range; None to send the whole file (no header, or one we
    do not serve such as several ranges); False when the range lies outside the file."""
    match = _RANGE.match(header.strip())
    if not match or not any(match.groups()):
        return None
    first, last = match.groups()
    if not first:  # "bytes=-N": the last N bytes
        length = int(last)
        if length == 0:
            return False
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


def _read(fileobj, start: int, length: int) -> Iterator[bytes]:
    try:
        fileobj.seek(start)
        while length > 0:
            block = fileobj.read(min(BLOCK, length))
            if not block:
                break
            length -= len(block)
            yield block
    finally:
        fileobj.close()


def ranged_file_response(request, fileobj, *, size: int, filename: str, content_type: str) -> HttpResponse:
    wanted = byte_range(request.headers.get("Range", ""), size) if request.headers.get("Range") else None
    if wanted is False:
        fileobj.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, end = wanted if wanted else (0, size - 1)
    response = StreamingHttpResponse(_read(fileobj, start, end - start + 1), content_type=content_type)
    if wanted:
        response.status_code = 206
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
