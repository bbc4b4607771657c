"""Instagram's API (Instagram Login) in the sandbox: /me, /me/media with carousels, videos and
reels, /me/stories, /{media-id} for a freshly signed URL, Graph paging, usage headers and errors.

Media URLs are signed like Instagram's CDN: `oe` is the expiry (hex Unix time) and `oh` the
signature. Every tenth post is listed with URLs that expired already; the media host answers them
403, and asking for the media object again (/{media-id}) gives URLs that work. `media_response` is
the CDN's own check of `oe` and `oh`.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

from platforms.facebook.sandbox import LATEST, GraphSandbox, graph_time
from platforms.sandbox import auth
from platforms.sandbox.core import SbRequest, SbResponse

POST_BASE = 17900000000000000  # post n is POST_BASE + 10 n; its carousel children follow it
STORY_BASE = 18100000000000000
USER_BASE = 17841400000000000
MAX_STORIES = 10  # a day's stories; Instagram keeps no more
FRESH_EXPIRY = 0x7FFFFFFF  # far ahead, so that the same URL is served on every run
PAST_EXPIRY = 0x61066B00  # 2021-08-01
# Post layouts, in turn: a carousel is a list of its children's types.
LAYOUTS = ("IMAGE", "VIDEO", ("IMAGE", "VIDEO", "IMAGE"), "IMAGE", "REELS", ("IMAGE", "IMAGE"))
LONG_LIVED_SECONDS = 60 * 24 * 3600


def shortcode(number: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    code = ""
    while number:
        number, digit = divmod(number, 64)
        code = alphabet[digit] + code
    return code or "A"


class Sandbox(GraphSandbox):
    slug = "instagram"
    default_fields = {"user": ("id",), "media": ("id",)}
    # www.instagram.com/oauth/authorize and api.instagram.com/oauth/access_token, on one host here.
    token_path = "/oauth/access_token"

    def usage_headers(self, req: SbRequest | None) -> dict[str, str]:
        percent = 100 if req is None else self.usage_percent(req)
        owner = str(USER_BASE + self.numeric_id(req.user)) if req is not None else "0"
        usage = {
            owner: [
                {
                    "type": "instagram",
                    "call_count": percent,
                    "total_cputime": percent // 2,
                    "total_time": percent // 2,
                    "estimated_time_to_regain_access": 0,
                }
            ]
        }
        return {"X-Business-Use-Case-Usage": json.dumps(usage, separators=(",", ":"))}

    # --- signed media URLs ---------------------------------------------------------------------
    def signature(self, name: str, expiry: str) -> str:
        return hashlib.sha256(f"{self.config.seed}:{name}:{expiry}".encode()).hexdigest()[:32]

    def signed_url(self, req: SbRequest, name: str, *, expired: bool, **query) -> str:
        expiry = format(PAST_EXPIRY if expired else FRESH_EXPIRY, "x")
        query.update(oe=expiry, oh=self.signature(name, expiry))
        return self.media_url(req, name, **query)

    def media_response(self, req: SbRequest, name: str) -> SbResponse | None:
        """The CDN's check of a signed URL: 403 once `oe` has passed or when `oh` does not match."""
        expiry = req.query.get("oe")
        if expiry is None:
            return None
        try:
            expires_at = int(expiry, 16)
        except ValueError:
            return SbResponse(403, b"Bad URL timestamp", {"Content-Type": "text/plain"})
        if req.query.get("oh") != self.signature(name, expiry):
            return SbResponse(403, b"URL signature mismatch", {"Content-Type": "text/plain"})
        if expires_at < time.time():
            return SbResponse(403, b"URL signature expired", {"Content-Type": "text/plain"})
        return None

    # --- data ----------------------------------------------------------------------------------
    def account_type(self, req: SbRequest) -> str:
        return "PERSONAL" if "personal" in req.user else "BUSINESS"

    def me(self, req: SbRequest) -> dict:
        uid = str(USER_BASE + self.numeric_id(req.user))
        return {
            "id": uid,
            "user_id": uid,
            "username": req.user,
            "name": f"{req.user.title()} Example",
            "account_type": self.account_type(req),
            "media_count": self.config.records,
            "profile_picture_url": self.media_url(req, f"ig-avatar-{req.user}.jpg", w=320, h=320),
        }

    def leaf(self, req: SbRequest, media_id: int, media_type: str, when, *, expired: bool) -> dict:
        """One IMAGE or VIDEO node, as a post, a carousel child or a story."""
        node = {
            "id": str(media_id),
            "media_type": "VIDEO" if media_type in ("VIDEO", "REELS") else "IMAGE",
            "permalink": f"https://www.instagram.com/p/{shortcode(media_id)}/",
            "timestamp": graph_time(when),
        }
        if node["media_type"] == "VIDEO":
            node["media_url"] = self.signed_url(req, f"ig-{media_id}.mp4", expired=expired, s=1)
            node["thumbnail_url"] = self.signed_url(req, f"ig-{media_id}-thumb.jpg", expired=expired, w=1080, h=1920)
        else:
            node["media_url"] = self.signed_url(req, f"ig-{media_id}.jpg", expired=expired, w=1080, h=1080)
        return node

    def post(self, req: SbRequest, n: int, *, fresh: bool = False) -> dict:
        post_id = POST_BASE + 10 * n
        when = LATEST - timedelta(days=n, hours=2)
        expired = not fresh and n % 10 == 3
        layout = LAYOUTS[n % len(LAYOUTS)]
        if isinstance(layout, tuple):
            children = [self.leaf(req, post_id + k + 1, child, when, expired=expired) for k, child in enumerate(layout)]
            node = {
                "id": str(post_id),
                "media_type": "CAROUSEL_ALBUM",
                # The album's own media_url is its first child's.
                "media_url": children[0]["media_url"],
                "permalink": f"https://www.instagram.com/p/{shortcode(post_id)}/",
                "timestamp": graph_time(when),
                "children": {"data": children},
            }
        else:
            node = self.leaf(req, post_id, layout, when, expired=expired)
        node.update(
            media_product_type="REELS" if layout == "REELS" else "FEED",
            username=req.user,
            like_count=(n * 7) % 50,
            comments_count=n % 5,
        )
        if n % 7:
            # A post without a caption has no `caption` at all.
            node["caption"] = f"Post {n} from the sandbox #demo"
        return node

    def story(self, req: SbRequest, n: int) -> dict:
        when = LATEST - timedelta(hours=n + 1)
        node = self.leaf(req, STORY_BASE + n, "VIDEO" if n % 2 else "IMAGE", when, expired=False)
        node.update(media_product_type="STORY", username=req.user)
        return node

    def story_count(self) -> int:
        return min(self.config.records, MAX_STORIES)

    def lookup(self, req: SbRequest, media_id: int) -> dict | None:
        """A media object by id, with freshly signed URLs."""
        n, k = divmod(media_id - POST_BASE, 10)
        if 0 <= n < self.config.records:
            post = self.post(req, n, fresh=True)
            if k == 0:
                return post
            children = (post.get("children") or {}).get("data") or []
            return children[k - 1] if k <= len(children) else None
        n = media_id - STORY_BASE
        if 0 <= n < self.story_count():
            return self.story(req, n)
        return None

    # --- OAuth ---------------------------------------------------------------------------------
    def token(self, req: SbRequest) -> SbResponse:
        """The code for a short-lived token, in the shape Business Login documents."""
        user = auth.verify_token(self.slug, req.form().get("code"), kind="code")
        if req.method != "POST" or not user:
            body = {"error_type": "OAuthException", "code": 400, "error_message": "Invalid authorization code"}
            return SbResponse.json(body, 400)
        uid = str(USER_BASE + self.numeric_id(user))
        token = {
            "access_token": auth.mint_token(self.slug, user),
            "user_id": uid,
            "permissions": "instagram_business_basic",
        }
        return SbResponse.json({"data": [token]})

    def long_lived_token(self, req: SbRequest) -> SbResponse:
        """GET /access_token: a short-lived token (the request's own) for one that lasts 60 days."""
        if req.query.get("grant_type") != "ig_exchange_token" or not req.query.get("client_secret"):
            return self.graph_error(400, "Unsupported request - method type: get", 100)
        token = auth.mint_token(self.slug, req.user)
        return SbResponse.json({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS})

    # --- routing -------------------------------------------------------------------------------
    def route(self, req: SbRequest, route: str) -> SbResponse:
        if route == "/access_token":
            return self.long_lived_token(req)
        me = self.me(req)
        if route in ("/me", f"/{me['id']}"):
            return self.node(req, me, "user")
        if route in ("/me/media", f"/{me['id']}/media"):
            return self.paged(req, self.config.records, lambda i: self.post(req, i), "media")
        if route in ("/me/stories", f"/{me['id']}/stories"):
            if me["account_type"] not in ("BUSINESS", "MEDIA_CREATOR"):
                return self.graph_error(400, "(#10) Application does not have permission for this action", 10)
            return self.paged(req, self.story_count(), lambda i: self.story(req, i), "media")
        object_id = route.strip("/")
        if object_id.isdigit():
            found = self.lookup(req, int(object_id))
            if found is not None:
                return self.node(req, found, "media")
        return self.not_found()
