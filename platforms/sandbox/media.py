"""Real media bytes for the sandbox: JPEG/PNG/GIF drawn with Pillow, MP4 encoded with PyAV.

Everything is derived from the file name, so the same URL always serves the same bytes (tests can
compare checksums across runs). `bytes=N` pads a file to an exact size after its end marker —
decoders ignore trailing bytes — which gives the benchmark files of any size without encoding them.
"""

from __future__ import annotations

import hashlib
import io
import threading
from functools import lru_cache

CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "zip": "application/zip",
    "txt": "text/plain; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
# Streamed, never held whole: the size above which padding is generated block by block.
BLOCK = 1 << 20


def _colour(seed: str, salt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(f"{seed}:{salt}".encode()).digest()
    return digest[0], digest[1], digest[2]


@lru_cache(maxsize=256)
def image(seed: str, fmt: str = "jpg", width: int = 640, height: int = 480) -> bytes:
    from PIL import Image, ImageDraw

    width, height = max(8, min(width, 4096)), max(8, min(height, 4096))
    top, bottom = _colour(seed, "a"), _colour(seed, "b")
    img = Image.new("RGB", (width, height), top)
    draw = ImageDraw.Draw(img)
    for y in range(0, height, 4):
        t = y / height
        colour = tuple(int(top[i] * (1 - t) + bottom[i] * t) for i in range(3))
        draw.rectangle([0, y, width, y + 4], fill=colour)
    draw.text((12, 12), seed[:40], fill=(255, 255, 255))
    out = io.BytesIO()
    pil_format = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP"}[fmt]
    if pil_format == "GIF":
        frames = [img, img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
        frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=300, loop=0)
    else:
        img.save(out, format=pil_format, quality=85)
    return out.getvalue()


_encode_lock = threading.Lock()


def video(seed: str, seconds: float = 1.0, width: int = 320, height: int = 240) -> bytes:
    """A real H.264 MP4 (a moving colour gradient), playable in browsers. Encoded once per name:
    two threads encoding the same video at once could produce different bytes."""
    with _encode_lock:
        return _video(seed, seconds, width, height)


@lru_cache(maxsize=32)
def _video(seed: str, seconds: float, width: int, height: int) -> bytes:
    import av
    from PIL import Image

    out = io.BytesIO()
    container = av.open(out, mode="w", format="mp4")
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    stream = container.add_stream(codec, rate=12)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    still = Image.open(io.BytesIO(image(seed, "png", width * 2, height))).convert("RGB")
    frames = max(1, int(seconds * 12))
    for i in range(frames):
        # A window sliding across a wider picture: visible motion without numpy.
        shift = int(i * width / frames)
        frame = av.VideoFrame.from_image(still.crop((shift, 0, shift + width, height)))
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return out.getvalue()


def _padding_block(seed: str) -> bytes:
    # Pseudo-random so it does not compress: the benchmark must move real bytes.
    return _block(hashlib.sha256(seed.encode()).hexdigest())


@lru_cache(maxsize=8)
def _block(key: str) -> bytes:
    import random

    return random.Random(key).randbytes(BLOCK)


def render(name: str, query: dict[str, str]) -> tuple[bytes, int, str]:
    """(head bytes, total size, content type) of the media file `name`; see `stream` for the rest."""
    seed, _, ext = name.rpartition(".")
    ext = ext.lower()
    if not seed or ext not in CONTENT_TYPES:
        raise KeyError(name)
    if ext in ("jpg", "jpeg", "png", "gif", "webp"):
        head = image(seed, ext, int(query.get("w", 640)), int(query.get("h", 480)))
    elif ext == "mp4":
        head = video(seed, float(query.get("s", 1.0)))
    elif ext == "zip":
        head = _zip(seed)
    else:
        head = f"{seed}\n".encode()
    total = max(len(head), int(query.get("bytes", 0) or 0))
    return head, total, CONTENT_TYPES[ext]


def stream(name: str, query: dict[str, str], start: int = 0, end: int | None = None):
    """Yield bytes [start, end] of the file, generating padding block by block."""
    head, total, _ = render(name, query)
    end = total - 1 if end is None else min(end, total - 1)
    position = start
    if position < len(head):
        piece = head[position : end + 1]
        yield piece
        position += len(piece)
    if position > end:
        return
    block = _padding_block(name)
    while position <= end:
        offset = (position - len(head)) % BLOCK
        size = min(BLOCK - offset, end - position + 1)
        yield block[offset : offset + size]
        position += size


@lru_cache(maxsize=64)
def _zip(seed: str) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{seed}/README.md", f"# {seed}\n\nA repository served by the Star Export sandbox.\n")
        archive.writestr(f"{seed}/main.py", "print('hello from the sandbox')\n")
    return out.getvalue()
