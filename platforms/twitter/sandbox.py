"""X (Twitter) API v2 in the sandbox: /2/users/me and /2/users/:id/tweets with `includes.media`
(photos, videos and GIFs with their MP4/HLS variants), `meta.next_token` paging, the 3,200-post
timeline limit, x-rate-limit-* headers and X's own error bodies."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

from platforms.sandbox.core import PlatformSandbox, SbRequest, SbResponse

EPOCH = datetime(2024, 6, 1, 12, tzinfo=UTC)
TIMELINE_LIMIT = 3200
MAX_RESULTS = 100
PROBLEMS = "https://api.twitter.com/2/problems"
# Snowflake ids grow with time; these start where 2024's did.
ID_BASE = 1_800_000_000_000_000_000


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Sandbox(PlatformSandbox):
    slug = "twitter"
    # X answers 10 posts when max_results is not given; a small page still shows paging on few records.
    default_page_size = 20

    def __init__(self, config):
        super().__init__(config)
        self._lock = threading.Lock()
        self._challenges: dict[str, tuple[str, str]] = {}  # code -> (code_challenge, method)

    # --- data ----------------------------------------------------------------------------------
    def user_id(self, login: str) -> str:
        return str(1_500_000_000 + sum(ord(c) * 31**i for i, c in enumerate(login)) % 1_000_000_000)

    def user(self, req: SbRequest) -> dict:
        login = req.user
        return {
            "id": self.user_id(login),
            "name": f"{login.title()} Example",
            "username": login,
            "created_at": _iso(datetime(2012, 2, 17, 23, 34, 50, tzinfo=UTC)),
            "description": "Posts about exporting things.",
            "location": "Lisbon",
            "url": "",
            "protected": False,
            "verified": False,
            "profile_image_url": self.media_url(req, f"tw-avatar-{login}.jpg", w=48, h=48),
            "public_metrics": {
                "followers_count": 42,
                "following_count": 7,
                "tweet_count": self.config.records,
                "listed_count": 1,
            },
        }

    def media_for(self, req: SbRequest, n: int, tweet_id: int) -> list[dict]:
        """Every fourth post carries photos, then a video, then a GIF; the rest are text."""
        shape = n % 8
        if shape in (1, 5):
            rng = self.rng("photos", req.user, n)
            photos = []
            for i in range(1 + n % 4):
                key = f"3_{tweet_id + i + 1}"
                width, height = rng.choice([(1200, 900), (900, 1200), (1024, 1024)])
                photos.append(
                    {
                        "media_key": key,
                        "type": "photo",
                        "url": self.media_url(req, f"tw-{key}.jpg", w=width // 4, h=height // 4),
                        "width": width,
                        "height": height,
                        "alt_text": f"photo {i + 1} of post {n}" if i % 2 == 0 else None,
                    }
                )
            return [{k: v for k, v in p.items() if v is not None} for p in photos]
        if shape == 3:
            key = f"7_{tweet_id + 1}"
            variants = [
                # X lists its variants in no particular order, with the HLS playlist among them.
                {"bit_rate": 256000, "content_type": "video/mp4", "url": self.media_url(req, f"tw-{key}-256k.mp4")},
                {"content_type": "application/x-mpegURL", "url": self.media_url(req, f"tw-{key}.m3u8")},
                {"bit_rate": 2176000, "content_type": "video/mp4", "url": self.media_url(req, f"tw-{key}-2176k.mp4")},
                {"bit_rate": 832000, "content_type": "video/mp4", "url": self.media_url(req, f"tw-{key}-832k.mp4")},
            ]
            return [
                {
                    "media_key": key,
                    "type": "video",
                    "duration_ms": 1000,
                    "width": 320,
                    "height": 240,
                    "preview_image_url": self.media_url(req, f"tw-{key}-thumb.jpg", w=320, h=240),
                    "variants": variants,
                }
            ]
        if shape == 7:
            key = f"16_{tweet_id + 1}"
            return [
                {
                    "media_key": key,
                    "type": "animated_gif",
                    "width": 320,
                    "height": 240,
                    "preview_image_url": self.media_url(req, f"tw-{key}-thumb.jpg", w=320, h=240),
                    "variants": [
                        {"bit_rate": 0, "content_type": "video/mp4", "url": self.media_url(req, f"tw-{key}.mp4")}
                    ],
                }
            ]
        return []

    def tweet(self, req: SbRequest, n: int) -> tuple[dict, list[dict]]:
        """Post number n (1 is the newest) and its media objects."""
        created = EPOCH - timedelta(hours=n * 13, minutes=self.rng("minute", n).randint(0, 59))
        tweet_id = ID_BASE - n * 1_000_000
        media = self.media_for(req, n, tweet_id)
        text = f"Post {n} from the sandbox timeline #starexport"
        data = {
            "id": str(tweet_id),
            "text": text,
            "created_at": _iso(created),
            "edit_history_tweet_ids": [str(tweet_id)],
            "conversation_id": str(tweet_id),
            "lang": "en",
            "public_metrics": {
                "retweet_count": n % 5,
                "reply_count": n % 3,
                "like_count": 10 + n,
                "quote_count": n % 2,
                "bookmark_count": 0,
                "impression_count": 100 + n * 7,
            },
            "entities": {"hashtags": [{"start": len(text) - 11, "end": len(text), "tag": "starexport"}]},
        }
        if n % 6 == 4:
            # A reply in a thread of the user's own.
            parent = str(tweet_id + 1_000_000)
            data["in_reply_to_user_id"] = self.user_id(req.user)
            data["referenced_tweets"] = [{"type": "replied_to", "id": parent}]
            data["conversation_id"] = parent
        if media:
            short = f"https://t.co/s{n:08d}"
            data["text"] += f" {short}"
            data["attachments"] = {"media_keys": [m["media_key"] for m in media]}
            data["entities"]["urls"] = [
                {
                    "start": len(text) + 1,
                    "end": len(text) + 1 + len(short),
                    "url": short,
                    "expanded_url": f"https://x.com/{req.user}/status/{tweet_id}/photo/1",
                    "display_url": f"pic.x.com/s{n:08d}",
                    "media_key": media[0]["media_key"],
                }
            ]
        return data, media

    # --- OAuth 2.0 with PKCE, which X requires -------------------------------------------------
    def authorize(self, req: SbRequest) -> SbResponse:
        challenge = req.query.get("code_challenge", "")
        method = req.query.get("code_challenge_method", "plain")
        if not challenge or method not in ("S256", "plain"):
            params = {
                "error": "invalid_request",
                "error_description": "Missing required parameter [code_challenge].",
                "state": req.query.get("state", ""),
            }
            redirect_uri = req.query.get("redirect_uri", "")
            joiner = "&" if "?" in redirect_uri else "?"
            return SbResponse.redirect(f"{redirect_uri}{joiner}{urlencode(params)}")
        response = super().authorize(req)
        code = dict(parse_qsl(urlsplit(response.headers["Location"]).query))["code"]
        with self._lock:
            self._challenges[code] = (challenge, method)
        return response

    def token(self, req: SbRequest) -> SbResponse:
        data = {**req.query, **req.form()}
        if data.get("grant_type") == "authorization_code":
            with self._lock:
                challenge, method = self._challenges.pop(data.get("code", ""), ("", ""))
            verifier = data.get("code_verifier", "")
            if method == "S256":
                verifier = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if not challenge or verifier != challenge:
                body = {
                    "error": "invalid_request",
                    "error_description": "Value passed for the code verifier did not match the code challenge.",
                }
                return SbResponse.json(body, 400)
        return super().token(req)

    # --- routing -------------------------------------------------------------------------------
    def handle(self, req: SbRequest) -> SbResponse:
        if req.path == "/2/users/me":
            return self.ok({"data": self.user(req)})
        parts = req.path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["2", "users"] and parts[3] == "tweets":
            if parts[2] != self.user_id(req.user):
                return self.ok(self.user_missing(parts[2]))
            return self.timeline(req)
        return self.not_found()

    def timeline(self, req: SbRequest) -> SbResponse:
        try:
            max_results = int(req.query.get("max_results", 10))
        except ValueError:
            max_results = 0
        if not 5 <= max_results <= MAX_RESULTS:
            return self.invalid("max_results", req.query.get("max_results", ""), "must be between 5 and 100")
        size = min(max_results, self.page_size)
        token = req.query.get("pagination_token")
        offset = self.offset(token) if token else 0
        if offset is None:
            return self.invalid("pagination_token", token, "is not valid")
        # The timeline endpoint never reaches further back than the newest 3,200 posts.
        total = min(self.config.records, TIMELINE_LIMIT)
        numbers = range(offset + 1, min(offset + size, total) + 1)
        tweets, media = [], []
        for n in numbers:
            data, attached = self.tweet(req, n)
            tweets.append(data)
            media.extend(attached)
        meta: dict = {"result_count": len(tweets)}
        if tweets:
            meta.update(newest_id=tweets[0]["id"], oldest_id=tweets[-1]["id"])
        if offset + size < total:
            meta["next_token"] = self.token_for(offset + size)
        if offset:
            meta["previous_token"] = self.token_for(max(0, offset - size))
        body: dict = {"meta": meta}
        if tweets:
            body = {"data": tweets, **({"includes": {"media": media}} if media else {}), "meta": meta}
        return self.ok(body)

    # Paging tokens are opaque to clients; here they carry the offset behind a fixed prefix.
    def token_for(self, offset: int) -> str:
        return f"7140dibdnow9c7btw{offset:06d}"

    def offset(self, token: str) -> int | None:
        prefix = self.token_for(0)[:-6]
        digits = token.removeprefix(prefix)
        return int(digits) if token.startswith(prefix) and digits.isdigit() else None

    # --- X's answers ---------------------------------------------------------------------------
    def rate_headers(self, remaining: int = 899, reset_in: int = 900) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "900",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(time.time()) + reset_in),
        }

    def ok(self, data) -> SbResponse:
        return SbResponse.json(data, headers=self.rate_headers())

    def invalid(self, name: str, value: str, why: str) -> SbResponse:
        body = {
            "errors": [
                {"parameters": {name: [value]}, "message": f"The `{name}` query parameter value [{value}] {why}"}
            ],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": f"{PROBLEMS}/invalid-request",
        }
        return SbResponse.json(body, 400, self.rate_headers())

    def user_missing(self, user_id: str) -> dict:
        # X answers 200 with only `errors` for a user it cannot find.
        return {
            "errors": [
                {
                    "value": user_id,
                    "detail": f"Could not find user with id: [{user_id}].",
                    "title": "Not Found Error",
                    "resource_type": "user",
                    "parameter": "id",
                    "resource_id": user_id,
                    "type": f"{PROBLEMS}/resource-not-found",
                }
            ]
        }

    def unauthorized(self) -> SbResponse:
        return SbResponse.json(
            {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}, 401
        )

    def rate_limited(self, retry_after: int) -> SbResponse:
        body = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
        return SbResponse.json(body, 429, self.rate_headers(remaining=0, reset_in=retry_after))

    def server_error(self) -> SbResponse:
        body = {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": 503}
        return SbResponse.json(body, 503)

    def not_found(self) -> SbResponse:
        return SbResponse.json({"errors": [{"message": "Sorry, that page does not exist", "code": 34}]}, 404)
