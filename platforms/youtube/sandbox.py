"""YouTube's Data API v3 in the sandbox: channels (mine), playlistItems, videos (by id, at most 50)
and playlists (mine) with `pageToken` paging, `part` selection, Google's error bodies and, when
configured, the daily quota used up (403 quotaExceeded). Google's sign-in as allauth uses it: the
token answer carries a signed OpenID Connect `id_token`, and /oauth2/v2/userinfo describes the
account."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from platforms.sandbox import auth
from platforms.sandbox.core import PlatformSandbox, SbRequest, SbResponse

API = "/youtube/v3"
LATEST = datetime(2024, 5, 20, 16, 0, tzinfo=UTC)
MAX_RESULTS = 50
PLAYLIST_SIZE = 8
THUMBNAILS = {
    "default": (120, 90),
    "medium": (320, 180),
    "high": (480, 360),
    "standard": (640, 480),
    "maxres": (1280, 720),
}
AVATARS = {"default": 88, "medium": 240, "high": 800}
USERINFO = "/oauth2/v2/userinfo"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_token(offset: int) -> str:
    return _b64(f"page:{offset}".encode())


def token_offset(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("page:"))
    except (ValueError, UnicodeDecodeError):
        return None


class Sandbox(PlatformSandbox):
    slug = "youtube"
    default_page_size = 5  # the API's own default maxResults

    def __init__(self, config):
        super().__init__(config)
        self._lock = threading.Lock()
        self._video_numbers: dict[tuple[str, int], dict[str, int]] = {}
        self._units_spent: dict[str, int] = {}

    def spend_unit(self) -> bool:
        """Count one list call against the app's daily units; False once the day's are spent.
        Days are epoch-aligned when shortened, as the site's own accounting does in tests."""
        length = self.config.youtube_day_seconds
        if length:
            day = f"d{int(time.time() // length)}"
        else:
            day = datetime.now(ZoneInfo("America/Los_Angeles")).date().isoformat()
        with self._lock:
            spent = self._units_spent.get(day, 0)
            if spent >= self.config.youtube_daily_units:
                return False
            self._units_spent = {day: spent + 1}
            return True

    # --- identities ----------------------------------------------------------------------------
    def digest(self, *parts) -> bytes:
        return hashlib.sha256(":".join(str(p) for p in (self.config.seed, self.slug, *parts)).encode()).digest()

    def channel_id(self, user: str) -> str:
        return "UC" + _b64(self.digest("channel", user))[:22]

    def video_id(self, user: str, n: int) -> str:
        return _b64(self.digest("video", user, n)[:8])

    def playlist_id(self, user: str, k: int) -> str:
        return "PL" + _b64(self.digest("playlist", user, k))[:32]

    def video_number(self, user: str, video_id: str) -> int | None:
        key = (user, self.config.records)
        with self._lock:
            numbers = self._video_numbers.get(key)
            if numbers is None:
                numbers = {self.video_id(user, n): n for n in range(self.config.records)}
                self._video_numbers = {key: numbers}
        return numbers.get(video_id)

    # --- data ----------------------------------------------------------------------------------
    def thumbnails(self, req: SbRequest, name: str, sizes) -> dict:
        return {
            size: {"url": self.media_url(req, name, w=w, h=h), "width": w, "height": h}
            for size, (w, h) in THUMBNAILS.items()
            if size in sizes
        }

    def video_sizes(self, n: int) -> tuple[str, ...]:
        # Older or smaller uploads have no maxres (or no standard) thumbnail.
        everything = tuple(THUMBNAILS)
        return {1: everything[:4], 2: everything[:3]}.get(n % 4, everything)

    def channel(self, req: SbRequest) -> dict:
        cid = self.channel_id(req.user)
        title = f"{req.user.title()} Example"
        avatar = f"yt-avatar-{cid}.jpg"
        return {
            "kind": "youtube#channel",
            "etag": _b64(self.digest("etag", cid))[:27],
            "id": cid,
            "snippet": {
                "title": title,
                "description": "Videos made in the sandbox.",
                "customUrl": f"@{req.user}",
                "publishedAt": "2014-04-06T23:02:37Z",
                "thumbnails": {
                    size: {"url": self.media_url(req, avatar, w=px, h=px), "width": px, "height": px}
                    for size, px in AVATARS.items()
                },
                "localized": {"title": title, "description": "Videos made in the sandbox."},
                "country": "PT",
            },
            "contentDetails": {"relatedPlaylists": {"likes": "LL", "uploads": "UU" + cid[2:]}},
            "statistics": {
                "viewCount": str(1234 * self.config.records),
                "subscriberCount": "321",
                "hiddenSubscriberCount": False,
                "videoCount": str(self.config.records),
            },
            "brandingSettings": {
                "channel": {"title": title, "description": "Videos made in the sandbox."},
                "image": {"bannerExternalUrl": self.media_url(req, f"yt-banner-{cid}.jpg", w=2048, h=1152)},
            },
        }

    def video(self, req: SbRequest, n: int) -> dict:
        vid = self.video_id(req.user, n)
        published = LATEST - timedelta(days=3 * n, hours=n % 7)
        minutes, seconds = divmod(45 + 17 * n, 60)
        privacy = ("public", "public", "unlisted", "public", "private")[n % 5]
        return {
            "kind": "youtube#video",
            "etag": _b64(self.digest("etag", vid))[:27],
            "id": vid,
            "snippet": {
                "publishedAt": _iso(published),
                "channelId": self.channel_id(req.user),
                "title": f"Sandbox video {n}",
                "description": f"Video number {n}, made for the export demo.",
                "thumbnails": self.thumbnails(req, f"yt-{vid}.jpg", self.video_sizes(n)),
                "channelTitle": f"{req.user.title()} Example",
                "tags": ["sandbox", f"part-{n % 3}"],
                "categoryId": "22",
                "liveBroadcastContent": "none",
                "localized": {"title": f"Sandbox video {n}", "description": f"Video number {n}."},
            },
            "contentDetails": {
                "duration": f"PT{minutes}M{seconds}S",
                "dimension": "2d",
                "definition": "hd" if n % 3 else "sd",
                "caption": "false",
                "licensedContent": False,
                "contentRating": {},
                "projection": "rectangular",
            },
            "statistics": {
                "viewCount": str(100 + 37 * n),
                "likeCount": str(3 + n % 11),
                "favoriteCount": "0",
                "commentCount": str(n % 4),
            },
            "status": {
                "uploadStatus": "processed",
                "privacyStatus": privacy,
                "license": "youtube",
                "embeddable": True,
                "publicStatsViewable": True,
                "madeForKids": False,
            },
        }

    def playlist_item(self, req: SbRequest, playlist_id: str, position: int, entry: tuple) -> dict:
        """`entry` is ("own", n), ("other", k) or ("deleted", k)."""
        kind, number = entry
        added = LATEST - timedelta(days=position, hours=1)
        snippet = {
            "publishedAt": _iso(added),
            "channelId": self.channel_id(req.user),
            "channelTitle": f"{req.user.title()} Example",
            "playlistId": playlist_id,
            "position": position,
        }
        if kind == "own":
            video = self.video(req, number)
            vid, published = video["id"], video["snippet"]["publishedAt"]
            snippet.update(
                title=video["snippet"]["title"],
                description=video["snippet"]["description"],
                thumbnails=video["snippet"]["thumbnails"],
                videoOwnerChannelTitle=video["snippet"]["channelTitle"],
                videoOwnerChannelId=video["snippet"]["channelId"],
            )
            privacy = video["status"]["privacyStatus"]
        elif kind == "other":
            vid = _b64(self.digest("other-video", number)[:8])
            published = _iso(LATEST - timedelta(days=400 + number))
            snippet.update(
                title=f"Someone else's video {number}",
                description="Saved from another channel.",
                thumbnails=self.thumbnails(req, f"yt-{vid}.jpg", ("default", "medium", "high")),
                videoOwnerChannelTitle="Another Channel",
                videoOwnerChannelId="UC" + _b64(self.digest("other-channel"))[:22],
            )
            privacy = "public"
        else:
            # What YouTube lists for a video that was deleted after it was saved.
            vid = _b64(self.digest("deleted-video", number)[:8])
            published = None
            snippet.update(title="Deleted video", description="This video is unavailable.", thumbnails={})
            privacy = "privacyStatusUnspecified"
        snippet["resourceId"] = {"kind": "youtube#video", "videoId": vid}
        details = {"videoId": vid}
        if published:
            details["videoPublishedAt"] = published
        return {
            "kind": "youtube#playlistItem",
            "etag": _b64(self.digest("etag", playlist_id, position))[:27],
            "id": _b64(f"{playlist_id}.{vid}".encode()),
            "snippet": snippet,
            "contentDetails": details,
            "status": {"privacyStatus": privacy},
        }

    def playlist_count(self) -> int:
        return max(1, self.config.records // 12)

    def playlist_entries(self, k: int) -> list[tuple]:
        n = self.config.records
        entries = [("own", (k * 3 + j) % n) for j in range(min(n, PLAYLIST_SIZE - 2))]
        entries.append(("other", k))
        if k == 0:
            entries.append(("deleted", k))
        return entries

    def playlist(self, req: SbRequest, k: int) -> dict:
        pid = self.playlist_id(req.user, k)
        own = [number for kind, number in self.playlist_entries(k) if kind == "own"]
        cover = self.video(req, own[0])["snippet"]["thumbnails"] if own else {}
        title = f"Favourites {k}" if k else "Watch later, really"
        return {
            "kind": "youtube#playlist",
            "etag": _b64(self.digest("etag", pid))[:27],
            "id": pid,
            "snippet": {
                "publishedAt": _iso(LATEST - timedelta(days=30 * k + 5)),
                "channelId": self.channel_id(req.user),
                "title": title,
                "description": f"Playlist {k} of the sandbox channel.",
                "thumbnails": cover,
                "channelTitle": f"{req.user.title()} Example",
                "localized": {"title": title, "description": f"Playlist {k}."},
            },
            "contentDetails": {"itemCount": len(self.playlist_entries(k))},
            "status": {"privacyStatus": "public" if k % 2 == 0 else "private"},
        }

    # --- the Google account and its sign-in ----------------------------------------------------
    def account(self, req: SbRequest, user: str) -> dict:
        """The account as /oauth2/v2/userinfo describes it."""
        return {
            "id": str(10**20 + int.from_bytes(self.digest("account", user)[:8]) % 10**20),
            "email": f"{user}@example.com",
            "verified_email": True,
            "name": f"{user.title()} Example",
            "given_name": user.title(),
            "family_name": "Example",
            "picture": self.media_url(req, f"google-avatar-{user}.jpg", w=96, h=96),
        }

    @cached_property
    def signing_key(self) -> rsa.RSAPrivateKey:
        # A key of this sandbox's own, named by `kid` as Google's are. allauth does not check the
        # signature of an id_token it fetched itself (OpenID Connect Core 3.1.3.7); serving the
        # public key for other uses would need an unauthenticated route the core does not offer.
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @cached_property
    def key_id(self) -> str:
        public = self.signing_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha1(public).hexdigest()

    def id_token(self, req: SbRequest, user: str, client_id: str, access_token: str) -> str:
        account = self.account(req, user)
        now = int(time.time())
        claims = {
            "iss": req.base_url,
            "azp": client_id,
            "aud": client_id,
            "sub": account["id"],
            "email": account["email"],
            "email_verified": True,
            "at_hash": _b64(hashlib.sha256(access_token.encode()).digest()[:16]),
            "name": account["name"],
            "picture": account["picture"],
            "given_name": account["given_name"],
            "family_name": account["family_name"],
            "iat": now,
            "exp": now + 3600,
        }
        return jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": self.key_id})

    def token(self, req: SbRequest) -> SbResponse:
        """The generic token answer plus the `id_token` Google adds for the profile and email scopes."""
        response = super().token(req)
        if response.status != 200:
            return response
        body = json.loads(response.body)
        user = auth.verify_token(self.slug, body["access_token"])
        client_id = {**req.query, **req.form()}.get("client_id", "")
        body.update(token_type="Bearer", id_token=self.id_token(req, user, client_id, body["access_token"]))
        return SbResponse.json(body)

    # --- routing -------------------------------------------------------------------------------
    def handle(self, req: SbRequest) -> SbResponse:
        if req.path == USERINFO:
            return SbResponse.json(self.account(req, req.user))
        if not req.path.startswith(API + "/"):
            return self.not_found()
        if self.config.youtube_quota_exceeded:
            return self.quota_exceeded()
        if self.config.youtube_daily_units and not self.spend_unit():
            return self.quota_exceeded()
        resource = req.path[len(API) :]
        parts = {p.strip() for p in req.query.get("part", "").split(",") if p.strip()}
        if not parts:
            return self.google_error(400, "Required parameter: part", "required", "global")
        if resource == "/channels":
            if req.query.get("mine") != "true" and req.query.get("id") != self.channel_id(req.user):
                if "id" in req.query:
                    return self.listing(req, "channel", [], parts, total=0)
                return self.missing_filter("mine, id, forHandle, forUsername")
            return self.listing(req, "channel", [self.channel(req)], parts, total=1)
        if resource == "/playlistItems":
            return self.playlist_items(req, parts)
        if resource == "/videos":
            ids = [i for i in req.query.get("id", "").split(",") if i]
            if not ids:
                return self.missing_filter("chart, id, myRating")
            if len(ids) > MAX_RESULTS:
                return self.google_error(
                    400, "The request specifies too many video ids.", "invalidFilters", "badRequest"
                )
            numbers = [self.video_number(req.user, i) for i in ids]
            videos = [self.video(req, n) for n in numbers if n is not None]
            return self.listing(req, "video", videos, parts, total=len(videos))
        if resource == "/playlists":
            if req.query.get("mine") != "true":
                return self.missing_filter("channelId, id, mine")
            return self.paged(req, "playlist", self.playlist_count(), lambda k: self.playlist(req, k), parts)
        return self.not_found()

    def playlist_items(self, req: SbRequest, parts: set[str]) -> SbResponse:
        playlist_id = req.query.get("playlistId")
        if not playlist_id:
            return self.missing_filter("id, playlistId")
        uploads = "UU" + self.channel_id(req.user)[2:]
        if playlist_id == uploads:
            count = self.config.records
            entries = [("own", n) for n in range(count)]
        else:
            numbers = [k for k in range(self.playlist_count()) if self.playlist_id(req.user, k) == playlist_id]
            if not numbers:
                return self.google_error(
                    404,
                    "The playlist identified with the request's <code>playlistId</code> parameter cannot be found.",
                    "playlistNotFound",
                    "youtube.playlistItem",
                )
            entries = self.playlist_entries(numbers[0])
        return self.paged(
            req, "playlistItem", len(entries), lambda i: self.playlist_item(req, playlist_id, i, entries[i]), parts
        )

    def paged(self, req: SbRequest, kind: str, count: int, build, parts: set[str]) -> SbResponse:
        try:
            size = int(req.query.get("maxResults", self.default_page_size))
        except ValueError:
            size = -1
        if not 0 <= size <= MAX_RESULTS:
            return self.google_error(
                400,
                f"Invalid value '{req.query.get('maxResults')}'. Values must be within the range: [0, 50]",
                "invalidParameter",
                "global",
            )
        # The sandbox's page size knob caps what a client may ask for, so small data still pages.
        if self.config.page_size:
            size = min(size, self.config.page_size)
        start = 0
        if req.query.get("pageToken"):
            start = token_offset(req.query["pageToken"])
            if start is None or start > count:
                return self.google_error(400, "The page token is not valid.", "invalidPageToken", "youtube.parameter")
        items = [build(i) for i in range(start, min(count, start + size))]
        extra = {}
        if start + size < count:
            extra["nextPageToken"] = page_token(start + size)
        if start:
            extra["prevPageToken"] = page_token(max(0, start - size))
        return self.listing(req, kind, items, parts, total=count, per_page=size, extra=extra)

    def listing(self, req, kind, items, parts, *, total, per_page=None, extra=None) -> SbResponse:
        body = {"kind": f"youtube#{kind}ListResponse", "etag": _b64(self.digest("list", req.path, total))[:27]}
        body.update(extra or {})
        body["pageInfo"] = {"totalResults": total, "resultsPerPage": per_page if per_page is not None else len(items)}
        body["items"] = [{k: v for k, v in item.items() if k in ("kind", "etag", "id") or k in parts} for item in items]
        return SbResponse.json(body)

    # --- Google's error bodies -----------------------------------------------------------------
    def google_error(self, status: int, message: str, reason: str, domain: str, state: str = "") -> SbResponse:
        states = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
        body = {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
                "status": state or states.get(status, "UNAVAILABLE"),
            }
        }
        return SbResponse.json(body, status)

    def missing_filter(self, expected: str) -> SbResponse:
        return self.google_error(
            400, f"No filter selected. Expected one of: {expected}", "missingRequiredParameter", "youtube.parameter"
        )

    def quota_exceeded(self) -> SbResponse:
        return self.google_error(
            403,
            'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.',
            "quotaExceeded",
            "youtube.quota",
        )

    def unauthorized(self) -> SbResponse:
        response = self.google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
            "valid authentication credential.",
            "authError",
            "global",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        return response

    def rate_limited(self, retry_after: int) -> SbResponse:
        return self.google_error(
            429, "Resource has been exhausted (e.g. check quota).", "rateLimitExceeded", "global", "RESOURCE_EXHAUSTED"
        )

    def server_error(self) -> SbResponse:
        return self.google_error(503, "The service is currently unavailable.", "backendError", "global")

    def not_found(self) -> SbResponse:
        return self.google_error(404, "Not Found", "notFound", "global")
