"""Facebook's Graph API in the sandbox: /me, /me/posts (photo, album, video, link and text posts),
/me/photos?type=uploaded, /me/videos?type=uploaded with cursor paging (`paging.next`), field
selection, X-App-Usage headers and Graph error bodies.

`GraphSandbox` holds what Instagram's Graph API shares with Facebook's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from platforms.sandbox import auth
from platforms.sandbox.core import PlatformSandbox, SbRequest, SbResponse

LATEST = datetime(2024, 6, 1, 18, 30, tzinfo=UTC)
VERSION = re.compile(r"^/v\d+\.\d+(?=/)")
MAX_LIMIT = 100
# Calls an app may make in an hour before Meta throttles it; usage headers report the share used.
HOURLY_CALLS = 4000
# Identities whose name ends so are reported close to the limit, to watch a client slow down.
THROTTLED_SUFFIX = "-throttled"


def graph_time(moment: datetime) -> str:
    """Graph API timestamps: `2024-06-01T18:30:00+0000`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def top_fields(spec: str) -> list[str]:
    """The top-level names in a `fields` parameter: `a,b{c,d},e.limit(1)` -> [a, b, e]."""
    names, depth, current = [], 0, ""
    for char in spec:
        if char in "{(":
            depth += 1
        elif char in "})":
            depth -= 1
        if char == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += char
    names.append(current)
    return [re.split(r"[{.(]", name, maxsplit=1)[0].strip() for name in names if name.strip()]


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{index}".encode()).decode().rstrip("=")


def _index(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text.removeprefix("cursor:"))
    except (ValueError, UnicodeDecodeError):
        return None


class GraphSandbox(PlatformSandbox):
    default_page_size = 25
    # Fields a node has when the request names none (the Graph API's defaults are few).
    default_fields: dict[str, tuple[str, ...]] = {}

    def __init__(self, config):
        super().__init__(config)
        self._lock = threading.Lock()
        self._calls: dict[int, int] = {}

    def handle(self, req: SbRequest) -> SbResponse:
        route = VERSION.sub("", req.path)
        return self.route(req, route)

    def route(self, req: SbRequest, route: str) -> SbResponse:
        raise NotImplementedError

    def numeric_id(self, user: str) -> int:
        return int(hashlib.sha256(f"{self.slug}:{user}".encode()).hexdigest()[:8], 16) % 10**9

    # --- answers -------------------------------------------------------------------------------
    def node(self, req: SbRequest, data: dict, kind: str) -> SbResponse:
        return SbResponse.json(self.select(req, data, kind), headers=self.usage_headers(req))

    def select(self, req: SbRequest, data: dict, kind: str) -> dict:
        """Only the fields asked for (and `id`), as the Graph API answers."""
        spec = req.query.get("fields")
        wanted = top_fields(spec) if spec else list(self.default_fields.get(kind, ("id",)))
        return {key: data[key] for key in ["id", *wanted] if key in data}

    def paged(self, req: SbRequest, count: int, build: Callable[[int], dict], kind: str) -> SbResponse:
        """Items 0..count-1 (built one by one, so a large sandbox stays cheap), a page at a time."""
        try:
            limit = max(1, min(MAX_LIMIT, int(req.query.get("limit", self.page_size))))
        except ValueError:
            return self.graph_error(400, "(#100) The parameter limit must be an integer", 100)
        # The sandbox's page size knob caps what a client may ask for, so small data still pages.
        if self.config.page_size:
            limit = min(limit, self.config.page_size)
        start = 0
        if req.query.get("after"):
            last = _index(req.query["after"])
            if last is None:
                return self.graph_error(400, "(#100) The after parameter is not a valid cursor", 100)
            start = last + 1
        indexes = range(start, min(count, start + limit))
        body: dict = {"data": [self.select(req, build(i), kind) for i in indexes]}
        if indexes:
            body["paging"] = {"cursors": {"before": _cursor(indexes[0]), "after": _cursor(indexes[-1])}}
            if indexes[-1] + 1 < count:
                params = {k: v for k, v in req.query.items() if k not in ("after", "before")}
                params.update(limit=str(limit), after=_cursor(indexes[-1]))
                body["paging"]["next"] = f"{req.base_url}{req.path}?{urlencode(params)}"
            if start:
                params = {k: v for k, v in req.query.items() if k not in ("after", "before")}
                params.update(limit=str(limit), before=_cursor(indexes[0]))
                body["paging"]["previous"] = f"{req.base_url}{req.path}?{urlencode(params)}"
        return SbResponse.json(body, headers=self.usage_headers(req))

    # --- usage headers -------------------------------------------------------------------------
    def usage_percent(self, req: SbRequest | None) -> int:
        hour = int(time.time() // 3600)
        with self._lock:
            calls = self._calls.get(hour, 0) + 1
            self._calls = {hour: calls}
        percent = calls * 100 // HOURLY_CALLS
        if req is not None and req.user.endswith(THROTTLED_SUFFIX):
            percent = max(percent, 92)
        return min(100, percent)

    def usage_headers(self, req: SbRequest | None) -> dict[str, str]:
        raise NotImplementedError

    # --- Graph error bodies --------------------------------------------------------------------
    def graph_error(self, status: int, message: str, code: int, *, kind="OAuthException", **more) -> SbResponse:
        trace = base64.b64encode(hashlib.sha256(f"{message}{code}".encode()).digest()[:9]).decode()
        error = {"message": message, "type": kind, "code": code, **more, "fbtrace_id": trace}
        headers = {}
        if code == 190:
            headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{message}"'
        return SbResponse.json({"error": error}, status, headers)

    def unauthorized(self) -> SbResponse:
        return self.graph_error(401, "Invalid OAuth access token - Cannot parse access token", 190)

    def rate_limited(self, retry_after: int) -> SbResponse:
        response = self.graph_error(429, "(#4) Application request limit reached", 4, is_transient=True)
        response.headers.update(self.usage_headers(None))
        return response

    def server_error(self) -> SbResponse:
        return self.graph_error(
            500, "An unexpected error has occurred. Please retry your request later.", 2, is_transient=True
        )

    def not_found(self) -> SbResponse:
        return self.graph_error(
            400,
            "Unsupported get request. Object does not exist, cannot be loaded due to missing permissions, "
            "or does not support this operation.",
            100,
            kind="GraphMethodException",
            error_subcode=33,
        )


POST_KINDS = ("album", "photo", "video", "link", "status")
ALBUM_SIZE = 3
# A user token from the web login flow lives about 60 days and cannot be refreshed.
USER_TOKEN_SECONDS = 5183944


class Sandbox(GraphSandbox):
    slug = "facebook"
    default_fields = {
        "user": ("name",),
        "post": ("created_time", "message", "story"),
        "photo": ("created_time", "name"),
        "video": ("description", "updated_time"),
    }
    # Facebook's own paths (www.facebook.com/dialog/oauth, graph.facebook.com/oauth/access_token):
    # allauth derives the token URL from GRAPH_API_URL.
    authorize_path = "/dialog/oauth"
    token_path = "/oauth/access_token"

    def usage_headers(self, req: SbRequest | None) -> dict[str, str]:
        percent = 100 if req is None else self.usage_percent(req)
        usage = {"call_count": percent, "total_cputime": max(0, percent // 2), "total_time": max(0, percent // 2)}
        return {"X-App-Usage": json.dumps(usage, separators=(",", ":"))}

    # --- data ----------------------------------------------------------------------------------
    def user_id(self, req: SbRequest) -> str:
        return str(100000000000000 + self.numeric_id(req.user))

    def me(self, req: SbRequest) -> dict:
        return {"id": self.user_id(req), "name": f"{req.user.title()} Example"}

    def photo_id(self, n: int) -> str:
        return str(510000000000000 + n)

    def video_id(self, n: int) -> str:
        return str(520000000000000 + n)

    def image(self, req: SbRequest, name: str, width: int, height: int) -> dict:
        return {"height": height, "width": width, "src": self.media_url(req, name, w=width, h=height)}

    def photo(self, req: SbRequest, n: int) -> dict:
        pid = self.photo_id(n)
        album = n // 5
        created = LATEST - timedelta(days=n, hours=3)
        name = f"fb-photo-{pid}.jpg"
        photo = {
            "id": pid,
            "created_time": graph_time(created),
            "updated_time": graph_time(created + timedelta(hours=1)),
            "album": {"id": str(540000000000000 + album), "name": f"Album {album}"},
            "link": f"https://www.facebook.com/photo.php?fbid={pid}",
            "width": 1280,
            "height": 960,
            "images": [
                {"height": 960, "width": 1280, "source": self.media_url(req, name, w=1280, h=960)},
                {"height": 540, "width": 720, "source": self.media_url(req, name, w=720, h=540)},
                {"height": 98, "width": 130, "source": self.media_url(req, name, w=130, h=98)},
            ],
        }
        if n % 4:
            # A photo without a caption has no `name` at all.
            photo["name"] = f"Photo {n} from the lake"
        return photo

    def video(self, req: SbRequest, n: int) -> dict:
        vid = self.video_id(n)
        created = LATEST - timedelta(days=n, hours=5)
        poster = f"fb-video-{vid}-poster.jpg"
        return {
            "id": vid,
            "title": f"Clip {n}",
            "description": f"A short clip, number {n}",
            "created_time": graph_time(created),
            "updated_time": graph_time(created + timedelta(hours=2)),
            "length": 1.0,
            "permalink_url": f"/{self.user_id(req)}/videos/{vid}/",
            "source": self.media_url(req, f"fb-video-{vid}.mp4", s=1),
            "picture": self.media_url(req, poster, w=130, h=73),
            "thumbnails": {
                "data": [
                    {
                        "uri": self.media_url(req, poster, w=1280, h=720),
                        "width": 1280,
                        "height": 720,
                        "is_preferred": True,
                    },
                    {
                        "uri": self.media_url(req, poster, w=320, h=180),
                        "width": 320,
                        "height": 180,
                        "is_preferred": False,
                    },
                ]
            },
        }

    def photo_attachment(self, req: SbRequest, n: int) -> dict:
        pid = self.photo_id(n)
        link = f"https://www.facebook.com/photo.php?fbid={pid}"
        return {
            "media_type": "photo",
            "type": "photo",
            "media": {"image": self.image(req, f"fb-photo-{pid}.jpg", 720, 540)},
            "target": {"id": pid, "url": link},
            "url": link,
        }

    def post(self, req: SbRequest, n: int) -> dict:
        uid = self.user_id(req)
        post_id = f"{uid}_{530000000000000 + n}"
        created = LATEST - timedelta(days=n, hours=1)
        kind = POST_KINDS[n % len(POST_KINDS)]
        photos = self.config.records
        post = {
            "id": post_id,
            "created_time": graph_time(created),
            "updated_time": graph_time(created + timedelta(minutes=30)),
            "permalink_url": f"https://www.facebook.com/{uid}/posts/{post_id.split('_')[1]}/",
            "message": f"Post {n}: {kind}",
        }
        if kind == "album":
            parts = [self.photo_attachment(req, (n + k) % photos) for k in range(ALBUM_SIZE)]
            post.update(status_type="added_photos", full_picture=parts[0]["media"]["image"]["src"])
            post["attachments"] = {
                "data": [
                    {
                        "media_type": "album",
                        "type": "album",
                        "title": f"Album {n}",
                        "media": parts[0]["media"],
                        "target": {"id": post_id.split("_")[1], "url": post["permalink_url"]},
                        "url": post["permalink_url"],
                        "subattachments": {"data": parts},
                    }
                ]
            }
        elif kind == "photo":
            attachment = self.photo_attachment(req, n % photos)
            post.update(status_type="added_photos", full_picture=attachment["media"]["image"]["src"])
            post["attachments"] = {"data": [attachment]}
        elif kind == "video":
            vid = self.video_id(n % photos)
            media = {
                "image": self.image(req, f"fb-video-{vid}-poster.jpg", 720, 405),
                "source": self.media_url(req, f"fb-video-{vid}.mp4", s=1),
            }
            link = f"https://www.facebook.com/{uid}/videos/{vid}/"
            post.update(status_type="added_video", full_picture=media["image"]["src"])
            post["attachments"] = {
                "data": [
                    {
                        "media_type": "video",
                        "type": "video_inline",
                        "title": f"Clip {n % photos}",
                        "media": media,
                        "target": {"id": vid, "url": link},
                        "url": link,
                    }
                ]
            }
        elif kind == "link":
            preview = self.image(req, f"fb-link-{n}.jpg", 720, 377)
            post.update(status_type="shared_story", full_picture=preview["src"])
            post["attachments"] = {
                "data": [
                    {
                        "media_type": "link",
                        "type": "share",
                        "title": f"An article worth reading ({n})",
                        "description": "Shared from the web.",
                        "media": {"image": preview},
                        "target": {"url": f"https://example.com/articles/{n}"},
                        "url": f"https://example.com/articles/{n}",
                    }
                ]
            }
        else:
            post.update(status_type="mobile_status_update")
        return post

    # --- OAuth ---------------------------------------------------------------------------------
    def token(self, req: SbRequest) -> SbResponse:
        user = auth.verify_token(self.slug, {**req.query, **req.form()}.get("code"), kind="code")
        if not user:
            return self.graph_error(400, "Invalid verification code format.", 100)
        token = auth.mint_token(self.slug, user)
        return SbResponse.json({"access_token": token, "token_type": "bearer", "expires_in": USER_TOKEN_SECONDS})

    # --- routing -------------------------------------------------------------------------------
    def route(self, req: SbRequest, route: str) -> SbResponse:
        n = self.config.records
        if route == "/me":
            return self.node(req, self.me(req), "user")
        if route == "/me/posts":
            return self.paged(req, n, lambda i: self.post(req, i), "post")
        if route == "/me/photos":
            # Without type=uploaded Facebook lists the photos the user is tagged in: none here.
            count = n if req.query.get("type") == "uploaded" else 0
            return self.paged(req, count, lambda i: self.photo(req, i), "photo")
        if route == "/me/videos":
            count = n if req.query.get("type") == "uploaded" else 0
            return self.paged(req, count, lambda i: self.video(req, i), "video")
        return self.not_found()
