"""Reddit's OAuth API in the sandbox: /api/v1/me and the user's submitted, comments and saved
Listings (`after` paging, the 1,000-item cap) with i.redd.it images, galleries, v.redd.it videos,
link previews and crossposts, X-Ratelimit-* headers and Reddit's own error bodies. Without
`raw_json=1`, strings come back HTML-escaped as Reddit's legacy encoding does.

As on v.redd.it, a video's sound is a separate AAC-in-MP4 file beside its picture: the media host
serves `rd-v<id>-DASH_480.mp4` (silent) and `rd-v<id>-DASH_AUDIO_128.mp4`, or the older name
`rd-v<id>-DASH_audio.mp4`, or no audio file at all for a post without sound."""

from __future__ import annotations

import array
import io
import math
import re
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from platforms.sandbox.core import PlatformSandbox, SbRequest, SbResponse

EPOCH = datetime(2024, 6, 1, 12, tzinfo=UTC)
LISTING_LIMIT = 1000
MAX_LIMIT = 100
RESOURCES = ("submitted", "comments", "saved")
SUBREDDITS = ["pics", "videos", "AskReddit", "programming", "DataHoarder"]
# Reddit's current audio name and the one older posts keep; the extractor tries them in this order.
AUDIO_NAMES = ("DASH_AUDIO_128.mp4", "DASH_audio.mp4")
AUDIO_FILE = re.compile(r"rd-(v[0-9a-z]+)-(DASH_AUDIO_128\.mp4|DASH_audio\.mp4)")
BUSY_PAGE = (
    b"<!doctype html><html><head><title>Reddit - Dive into anything</title></head><body>"
    b"<h1>all of our servers are busy right now</h1><p>please try again in a minute</p></body></html>"
)


def _id36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


@lru_cache(maxsize=32)
def aac_audio(seed: str, seconds: float = 1.0, rate: int = 44100) -> bytes:
    """A real AAC track alone in a fragmented MP4, as DASH serves it: a tone whose pitch follows
    the seed, so different videos mostly sound different."""
    import av

    pitch = 220 + sum(map(ord, seed)) % 440
    out = io.BytesIO()
    container = av.open(out, mode="w", format="mp4", options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
    stream = container.add_stream("aac", rate=rate, layout="stereo")
    total = max(1, int(seconds * rate))
    for start in range(0, total, 1024):
        samples = array.array(
            "f", (0.3 * math.sin(2 * math.pi * pitch * i / rate) for i in range(start, min(start + 1024, total)))
        )
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=len(samples))
        for plane in frame.planes:
            plane.update(samples.tobytes())
        frame.sample_rate, frame.pts = rate, start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return out.getvalue()


def _legacy_escape(value):
    """Reddit's answer without raw_json=1: `&`, `<` and `>` in every string as HTML entities."""
    if isinstance(value, dict):
        return {k: _legacy_escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_legacy_escape(v) for v in value]
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


class Sandbox(PlatformSandbox):
    slug = "reddit"
    # Reddit answers 25 things when `limit` is not given.
    default_page_size = 25

    # --- data ----------------------------------------------------------------------------------
    def created(self, resource: str, n: int) -> float:
        step = {"submitted": 29, "comments": 11, "saved": 17}[resource]
        return (EPOCH - timedelta(hours=n * step, minutes=self.rng(resource, n).randint(0, 59))).timestamp()

    def thing_id(self, resource: str, n: int) -> str:
        offset = {"submitted": 0, "comments": 100_000, "saved": 200_000}[resource]
        return _id36(1_900_000_000 + offset + n)

    def me(self, req: SbRequest) -> dict:
        name = req.user
        return {
            "name": name,
            "id": _id36(50_000_000 + sum(map(ord, name))),
            "created": EPOCH.timestamp() - 86400 * 2000,
            "created_utc": EPOCH.timestamp() - 86400 * 2000,
            "icon_img": self.media_url(req, f"rd-avatar-{name}.png", w=256, h=256),
            "link_karma": 1234,
            "comment_karma": 5678,
            "total_karma": 6912,
            "verified": True,
            "has_verified_email": True,
            "is_gold": False,
            "is_mod": False,
            "over_18": False,
            "subreddit": {
                "display_name": f"u_{name}",
                "title": name,
                "public_description": "Exports everything.",
                "url": f"/user/{name}/",
                "subscribers": 3,
            },
        }

    def post(self, req: SbRequest, resource: str, n: int, author: str, post_id: str = "") -> dict:
        """Post n of a listing; its shape cycles through what Reddit hosts and links."""
        post_id = post_id or self.thing_id(resource, n)
        subreddit = SUBREDDITS[n % len(SUBREDDITS)]
        permalink = f"/r/{subreddit}/comments/{post_id}/post_{n}/"
        data = {
            "id": post_id,
            "name": f"t3_{post_id}",
            "author": author,
            "title": f"Post {n}: Q&A about <exports>",
            "subreddit": subreddit,
            "subreddit_name_prefixed": f"r/{subreddit}",
            "subreddit_id": f"t5_{_id36(1000 + n % len(SUBREDDITS))}",
            "created": self.created(resource, n),
            "created_utc": self.created(resource, n),
            "permalink": permalink,
            "score": 10 + n,
            "ups": 10 + n,
            "upvote_ratio": 0.97,
            "num_comments": n % 9,
            "over_18": False,
            "spoiler": False,
            "stickied": False,
            "is_self": False,
            "is_video": False,
            "selftext": "",
            "thumbnail": "default",
            "secure_media": None,
            "media": None,
            "url": f"https://www.reddit.com{permalink}",
        }
        shape = n % 7
        if shape == 0:
            data.update(self.image_post(req, post_id))
        elif shape == 1:
            data.update(self.gallery_post(req, post_id, n))
        elif shape == 2:
            data.update(self.video_post(req, post_id))
        elif shape == 3:
            data.update(is_self=True, selftext=f"Text of post {n}.\n\nNothing to download here.", url=data["url"])
            data["domain"] = f"self.{subreddit}"
        elif shape == 4:
            link = f"https://example.com/articles/{n}"
            data.update(url=link, url_overridden_by_dest=link, domain="example.com", post_hint="link")
            data["preview"] = self.preview(req, f"rd-{post_id}-link", 640, 360)
        elif shape == 5:
            # A crosspost: the files stay on the original, which another user posted.
            original = self.post(req, resource, n + 4, "original_poster", post_id=_id36(1_950_000_000 + n))
            data.update(crosspost_parent=original["name"], crosspost_parent_list=[original])
            data.update(url=original["url"], domain=original.get("domain", "reddit.com"))
        else:
            # A gallery again, larger, so order within a long gallery is exercised.
            data.update(self.gallery_post(req, post_id, n, items=5))
        return data

    def preview(self, req: SbRequest, seed: str, width: int, height: int) -> dict:
        return {
            "images": [
                {
                    "source": {
                        "url": self.media_url(req, f"{seed}-preview.jpg", w=width, h=height),
                        "width": width,
                        "height": height,
                    },
                    "resolutions": [
                        {
                            "url": self.media_url(req, f"{seed}-preview.jpg", w=108, h=108 * height // width),
                            "width": 108,
                            "height": 108 * height // width,
                        }
                    ],
                    "variants": {},
                    "id": f"{seed}-preview",
                }
            ],
            "enabled": True,
        }

    def image_post(self, req: SbRequest, post_id: str) -> dict:
        url = self.media_url(req, f"rd-{post_id}.jpg", w=800, h=600)
        return {
            "url": url,
            "url_overridden_by_dest": url,
            "domain": "i.redd.it",
            "post_hint": "image",
            "thumbnail": self.media_url(req, f"rd-{post_id}-thumb.jpg", w=140, h=105),
            "preview": self.preview(req, f"rd-{post_id}", 800, 600),
        }

    def gallery_post(self, req: SbRequest, post_id: str, n: int, items: int = 3) -> dict:
        gallery, metadata = [], {}
        for i in range(items):
            media_id = f"{post_id}g{i}{_id36(n * 7 + i)}"
            entry = {"media_id": media_id, "id": 100_000 + n * 10 + i}
            if i % 2 == 0:
                entry["caption"] = f"item {i + 1} of post {n}"
            gallery.append(entry)
            if i == 1:
                metadata[media_id] = {
                    "status": "valid",
                    "e": "AnimatedImage",
                    "m": "image/gif",
                    "p": [{"y": 108, "x": 108, "u": self.media_url(req, f"rd-{media_id}-p.png", w=108, h=108)}],
                    "s": {
                        "y": 240,
                        "x": 320,
                        "gif": self.media_url(req, f"rd-{media_id}.gif", w=320, h=240),
                        "mp4": self.media_url(req, f"rd-{media_id}.mp4"),
                    },
                    "id": media_id,
                }
            else:
                ext, mime = ("png", "image/png") if i % 3 == 2 else ("jpg", "image/jpg")
                metadata[media_id] = {
                    "status": "valid",
                    "e": "Image",
                    "m": mime,
                    "p": [{"y": 81, "x": 108, "u": self.media_url(req, f"rd-{media_id}-p.{ext}", w=108, h=81)}],
                    "s": {"y": 480, "x": 640, "u": self.media_url(req, f"rd-{media_id}.{ext}", w=640, h=480)},
                    "id": media_id,
                }
        return {
            "url": f"https://www.reddit.com/gallery/{post_id}",
            "url_overridden_by_dest": f"https://www.reddit.com/gallery/{post_id}",
            "domain": "reddit.com",
            "is_gallery": True,
            "gallery_data": {"items": gallery},
            "media_metadata": metadata,
            "thumbnail": self.media_url(req, f"rd-{post_id}-thumb.jpg", w=140, h=140),
        }

    def audio_track(self, video_id: str) -> str | None:
        """The name of the video's audio file on the media host, or None for a video without sound.
        Post ids count up, so the last digit takes turns: no sound, the older name, the current one."""
        return (None, AUDIO_NAMES[1], AUDIO_NAMES[0])[int(video_id[-1], 36) % 3]

    def video_post(self, req: SbRequest, post_id: str) -> dict:
        video_id = f"v{post_id}"
        video = {
            "reddit_video": {
                "bitrate_kbps": 1200,
                "fallback_url": self.media_url(req, f"rd-{video_id}-DASH_480.mp4", source="fallback"),
                "has_audio": self.audio_track(video_id) is not None,
                "height": 240,
                "width": 320,
                "scrubber_media_url": self.media_url(req, f"rd-{video_id}-DASH_96.mp4"),
                "dash_url": self.media_url(req, f"rd-{video_id}-DASHPlaylist.mpd", a="1718000000", v=1, f="sd"),
                "duration": 1,
                "hls_url": self.media_url(req, f"rd-{video_id}-HLSPlaylist.m3u8", a="1718000000", v=1, f="sd"),
                "is_gif": False,
                "transcoding_status": "completed",
            }
        }
        return {
            "url": f"https://v.redd.it/{video_id}",
            "url_overridden_by_dest": f"https://v.redd.it/{video_id}",
            "domain": "v.redd.it",
            "is_video": True,
            "post_hint": "hosted:video",
            "secure_media": video,
            "media": video,
            "preview": self.preview(req, f"rd-{video_id}", 320, 240),
        }

    def comment(self, req: SbRequest, resource: str, n: int, author: str) -> dict:
        comment_id = self.thing_id(resource, n)
        link_id = _id36(1_800_000_000 + n)
        subreddit = SUBREDDITS[(n + 2) % len(SUBREDDITS)]
        data = {
            "id": comment_id,
            "name": f"t1_{comment_id}",
            "author": author,
            "body": f"Comment {n}: exports & backups > nothing.",
            "body_html": f'<div class="md"><p>Comment {n}: exports &amp; backups &gt; nothing.</p>\n</div>',
            "link_id": f"t3_{link_id}",
            "link_title": f"Thread {n}",
            "parent_id": f"t3_{link_id}" if n % 3 else f"t1_{_id36(1_850_000_000 + n)}",
            "subreddit": subreddit,
            "subreddit_id": f"t5_{_id36(1000 + (n + 2) % len(SUBREDDITS))}",
            "permalink": f"/r/{subreddit}/comments/{link_id}/thread_{n}/{comment_id}/",
            "created": self.created(resource, n),
            "created_utc": self.created(resource, n),
            "score": n % 17,
            "ups": n % 17,
            "edited": False,
            "replies": "",
            "stickied": False,
        }
        if n % 5 == 0:
            # An image placed inside the comment.
            media_id = f"{comment_id}c{_id36(n)}"
            data["body"] += f"\n\n![img]({media_id})"
            data["media_metadata"] = {
                media_id: {
                    "status": "valid",
                    "e": "Image",
                    "m": "image/png",
                    "p": [],
                    "s": {"y": 300, "x": 400, "u": self.media_url(req, f"rd-{media_id}.png", w=400, h=300)},
                    "id": media_id,
                }
            }
        return data

    def things(self, req: SbRequest, resource: str) -> list[dict]:
        count = min(self.config.records, LISTING_LIMIT)
        things = []
        for n in range(1, count + 1):
            if resource == "submitted":
                things.append({"kind": "t3", "data": self.post(req, resource, n, req.user)})
            elif resource == "comments":
                things.append({"kind": "t1", "data": self.comment(req, resource, n, req.user)})
            elif n % 3 == 0:
                things.append({"kind": "t1", "data": self.comment(req, resource, n, f"someone_{n % 4}")})
            else:
                things.append({"kind": "t3", "data": self.post(req, resource, n, f"someone_{n % 4}")})
        return things

    # --- routing -------------------------------------------------------------------------------
    def handle(self, req: SbRequest) -> SbResponse:
        if req.path in ("/api/v1/me", "/api/v1/me/"):
            return self.ok(req, self.me(req))
        parts = req.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] in ("user", "u") and parts[2] in RESOURCES:
            name, resource = parts[1], parts[2]
            if name.lower() != req.user.lower():
                if resource == "saved":
                    return SbResponse.json({"message": "Forbidden", "error": 403}, 403, self.rate_headers())
                return self.not_found()
            return self.listing(req, self.things(req, resource))
        return self.not_found()

    def listing(self, req: SbRequest, things: list[dict]) -> SbResponse:
        try:
            limit = int(req.query.get("limit", self.default_page_size))
        except ValueError:
            limit = self.default_page_size
        # Reddit quietly caps `limit` at 100; the sandbox's page size knob caps it further.
        size = max(1, min(limit, MAX_LIMIT, self.page_size))
        start = 0
        after = req.query.get("after")
        if after:
            names = [t["data"]["name"] for t in things]
            # An unknown `after` gives an empty listing, as on Reddit.
            start = names.index(after) + 1 if after in names else len(things)
        chunk = things[start : start + size]
        more = start + size < len(things)
        data = {
            "after": chunk[-1]["data"]["name"] if chunk and more else None,
            "dist": len(chunk),
            "modhash": "",
            "geo_filter": "",
            "children": chunk,
            "before": chunk[0]["data"]["name"] if chunk and start else None,
        }
        return self.ok(req, {"kind": "Listing", "data": data})

    def media_response(self, req: SbRequest, name: str) -> SbResponse | None:
        match = AUDIO_FILE.fullmatch(name)
        if match is None:
            return None
        video_id, track = match.groups()
        if self.audio_track(video_id) != track:
            # Only one of the two names exists, and neither for a post without sound.
            return SbResponse(404, b"Not Found\n", {"Content-Type": "text/plain"})
        headers = {"Content-Type": "audio/mp4", "Cache-Control": "max-age=86400"}
        return SbResponse(200, aac_audio(f"rd-{video_id}"), headers)

    # --- Reddit's answers ----------------------------------------------------------------------
    def rate_headers(self, remaining: float = 599.0, reset: int | None = None) -> dict[str, str]:
        # Reddit's window is ten minutes; Reset is the seconds left in it.
        left = 600 - int(time.time()) % 600 if reset is None else reset
        return {
            "X-Ratelimit-Used": str(int(600 - remaining)),
            "X-Ratelimit-Remaining": f"{remaining:.1f}",
            "X-Ratelimit-Reset": str(left),
        }

    def ok(self, req: SbRequest, data) -> SbResponse:
        if req.query.get("raw_json") != "1":
            data = _legacy_escape(data)
        return SbResponse.json(data, headers=self.rate_headers())

    def unauthorized(self) -> SbResponse:
        return SbResponse.json(
            {"message": "Unauthorized", "error": 401},
            401,
            {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'},
        )

    def rate_limited(self, retry_after: int) -> SbResponse:
        body = {"message": "Too Many Requests", "error": 429}
        return SbResponse.json(body, 429, self.rate_headers(remaining=0.0, reset=retry_after))

    def server_error(self) -> SbResponse:
        return SbResponse(503, BUSY_PAGE, {"Content-Type": "text/html; charset=UTF-8"})

    def not_found(self) -> SbResponse:
        return SbResponse.json({"message": "Not Found", "error": 404}, 404)
