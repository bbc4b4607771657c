"""The sandbox: one local HTTP server that speaks each platform's API (DESIGN §4).

`{base}/{slug}/…` is a platform's API base, OAuth endpoints and media host. Platform modules
(`platforms/<slug>/sandbox.py`) subclass `PlatformSandbox` and answer API paths; this module does
what is common: tokens, the media host (with `Range`), OAuth, statistics and the fault knobs.
The knobs really change what is served, so the client's retries are tested against real HTTP.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from platforms.sandbox import auth, hooks, media

log = logging.getLogger(__name__)
DEMO_USER = "demo"


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    latency_ms: int = 0
    page_size: int | None = None  # None: each platform's own default
    records: int = 60  # records per resource for the demo identity
    fault_429_every: int = 0  # every Nth request answers 429 with Retry-After
    retry_after: int = 1
    fault_5xx_rate: float = 0.0
    truncate_rate: float = 0.0  # bodies cut off halfway (the connection then closes)
    slow_body_ms: int = 0  # pause between 64 KiB pieces of a body
    media_bytes: int = 0  # pad every media file to this size (benchmarks)
    youtube_quota_exceeded: bool = False
    # YouTube's daily units for the app (0: unlimited), and the length of its quota day in seconds
    # (0: the real day, midnight to midnight Pacific); each list call costs one unit.
    youtube_daily_units: int = 0
    youtube_day_seconds: int = 0
    # An app-level limit per platform, as the platforms limit one OAuth app across all its users:
    # {"reddit": [100, 60]} answers 429 past 100 API requests (media aside) in any 60 s.
    app_limits: dict = field(default_factory=dict)
    seed: str = "starexport"

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self)}
        for key, value in values.items():
            if key not in known or key in ("host", "port"):
                raise KeyError(key)
            current = getattr(self, key)
            if value is not None and current is not None and not isinstance(current, str):
                value = type(current)(value)
            setattr(self, key, value)


@dataclass
class SbRequest:
    method: str
    path: str  # below the platform prefix, e.g. "/user/repos"
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # e.g. "http://127.0.0.1:8765/github"
    user: str = ""  # the identity of the verified token
    token: str = ""

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace")))


@dataclass
class SbResponse:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None  # for streamed bodies

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict | None = None) -> SbResponse:
        return cls(
            status, json.dumps(data).encode(), {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        )

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> SbResponse:
        return cls(status, b"", {"Location": location})


class PlatformSandbox:
    """One platform's API. Subclasses set `slug` and `default_page_size` and implement `handle`."""

    slug = ""
    default_page_size = 30

    def __init__(self, config: SandboxConfig):
        self.config = config

    @property
    def page_size(self) -> int:
        return self.config.page_size or self.default_page_size

    def rng(self, *parts: Any) -> random.Random:
        """A random source fixed by the seed and `parts`: the same data on every run."""
        return random.Random(":".join(str(p) for p in (self.config.seed, self.slug, *parts)))

    def media_url(self, req: SbRequest, name: str, **query: Any) -> str:
        if self.config.media_bytes:
            query.setdefault("bytes", self.config.media_bytes)
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{req.base_url}/media/{name}{suffix}"

    def handle(self, req: SbRequest) -> SbResponse:
        raise NotImplementedError

    def media_response(self, req: SbRequest, name: str) -> SbResponse | None:
        """The platform's own check of a media request (a CDN's signed URL); None serves the file."""
        return None

    # The platform's own error bodies; subclasses override with the real shapes.
    def unauthorized(self) -> SbResponse:
        return SbResponse.json({"error": "invalid_token", "message": "Bad credentials"}, 401)

    def rate_limited(self, retry_after: int) -> SbResponse:
        return SbResponse.json({"error": "rate_limited", "message": "Too Many Requests"}, 429)

    def server_error(self) -> SbResponse:
        return SbResponse.json({"error": "server_error", "message": "Service Unavailable"}, 503)

    def not_found(self) -> SbResponse:
        return SbResponse.json({"error": "not_found", "message": "Not Found"}, 404)

    # OAuth: the token endpoint issues tokens this sandbox accepts. Subclasses may rename paths.
    authorize_path = "/oauth/authorize"
    token_path = "/oauth/token"

    def authorize(self, req: SbRequest) -> SbResponse:
        redirect_uri = req.query.get("redirect_uri", "")
        code = auth.mint_token(self.slug, req.query.get("login_hint") or DEMO_USER, kind="code")
        params = {"code": code, "state": req.query.get("state", "")}
        joiner = "&" if "?" in redirect_uri else "?"
        return SbResponse.redirect(f"{redirect_uri}{joiner}{urlencode(params)}")

    def token(self, req: SbRequest) -> SbResponse:
        data = {**req.query, **req.form()}
        if data.get("grant_type") == "refresh_token":
            user = auth.verify_token(self.slug, data.get("refresh_token"), kind="refresh")
        else:
            user = auth.verify_token(self.slug, data.get("code"), kind="code")
        if not user:
            return SbResponse.json({"error": "invalid_grant", "error_description": "Bad code"}, 400)
        return SbResponse.json(
            {
                "access_token": auth.mint_token(self.slug, user),
                "token_type": "bearer",
                "expires_in": 3600,
                "refresh_token": auth.mint_token(self.slug, user, kind="refresh"),
                "scope": data.get("scope", ""),
            }
        )


class Sandbox:
    """The whole server's state: platform modules, knobs, statistics."""

    def __init__(self, config: SandboxConfig | None = None, slugs: Iterable[str] | None = None):
        from platforms.registry import SANDBOXES

        self.config = config or SandboxConfig()
        self.platforms: dict[str, PlatformSandbox] = {}
        for slug, module_path in SANDBOXES.items():
            if slugs is not None and slug not in slugs:
                continue
            try:
                module = import_module(module_path)
            except ImportError:
                continue  # platforms land one at a time
            self.platforms[slug] = module.Sandbox(self.config)
        self.lock = threading.Lock()
        self.random = random.Random(self.config.seed)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests: Counter[str] = Counter()
            self.bytes_by_path: Counter[str] = Counter()
            self.total = 0
            self.bytes_served = 0
            self.refused: Counter[str] = Counter()  # 429s answered, per platform
            self.app_windows: dict[str, deque] = {}
            self.app_log: dict[str, list[float]] = {}  # when each admitted API request arrived

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "requests_total": self.total,
                "bytes_served": self.bytes_served,
                "bytes_by_path": dict(self.bytes_by_path),
                "429": dict(self.refused),
                "app_requests": {slug: list(times) for slug, times in self.app_log.items()},
                "config": asdict(self.config),
            }

    def app_admit(self, slug: str) -> float | None:
        """Count one API request against the platform's app-level limit: None when it may be
        served, else the seconds until the window has room again."""
        limit = self.config.app_limits.get(slug)
        if not limit:
            return None
        count, window = int(limit[0]), float(limit[1])
        now = time.monotonic()
        with self.lock:
            recent = self.app_windows.setdefault(slug, deque())
            while recent and recent[0] <= now - window:
                recent.popleft()
            if len(recent) >= count:
                return recent[0] + window - now
            recent.append(now)
            self.app_log.setdefault(slug, []).append(time.time())
            return None

    def refuse(self, slug: str) -> None:
        with self.lock:
            self.refused[slug] += 1

    def count(self, path: str) -> int:
        with self.lock:
            self.requests[path] += 1
            self.total += 1
            return self.total

    def add_bytes(self, path: str, n: int) -> None:
        with self.lock:
            self.bytes_served += n
            self.bytes_by_path[path] += n

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.lock:
            return self.random.random() < rate


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StarExportSandbox/1"
    sandbox: Sandbox  # set on the server
    # A real platform's server does not stall a kept-alive connection. With Nagle's algorithm on
    # and the headers and the body in separate sends, the body waited for the client's delayed ACK
    # (40 ms on Linux) on every request after a connection's first. So: TCP_NODELAY, and a buffered
    # writer that `send` flushes once the headers and the first piece of the body are in it.
    disable_nagle_algorithm = True
    wbufsize = 1 << 17  # larger than the headers and one 64 KiB piece together

    def log_message(self, format, *args):  # noqa: A002 — the stdlib's name
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        sandbox = self.server.sandbox
        parts = urlsplit(self.path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}

        if path.startswith("/_"):
            return self.send(self.control(path, body), path, faults=False)
        slug, _, rest = path.lstrip("/").partition("/")
        platform = sandbox.platforms.get(slug)
        if platform is None:
            return self.send(
                SbResponse.json({"error": f"no platform {slug!r} in this sandbox"}, 404), path, faults=False
            )
        rest = "/" + rest
        host = self.headers.get("Host") or f"{sandbox.config.host}:{sandbox.config.port}"
        req = SbRequest(self.command, rest, query, headers, body, base_url=f"http://{host}/{slug}")

        number = sandbox.count(path)
        config = sandbox.config
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        oauth = rest in (platform.authorize_path, platform.token_path)
        if not oauth:
            wait = None if rest.startswith("/media/") else sandbox.app_admit(slug)
            if wait is not None:
                sandbox.refuse(slug)
                response = platform.rate_limited(math.ceil(wait))
                response.headers["Retry-After"] = str(math.ceil(wait))
                return self.send(response, path)
            if config.fault_429_every and number % config.fault_429_every == 0:
                sandbox.refuse(slug)
                response = platform.rate_limited(config.retry_after)
                response.headers["Retry-After"] = str(config.retry_after)
                return self.send(response, path)
            if sandbox.chance(config.fault_5xx_rate):
                return self.send(platform.server_error(), path)

        if rest == platform.authorize_path:
            return self.send(platform.authorize(req), path, faults=False)
        if rest == platform.token_path:
            return self.send(platform.token(req), path, faults=False)
        if rest.startswith("/media/"):
            name = rest[len("/media/") :]
            refused = platform.media_response(req, name)
            if refused is not None:
                return self.send(refused, path)
            return self.send_media(req, name, path)

        # "Bearer <token>" as OAuth 2 says, or GitHub's older "token <token>".
        scheme, _, credential = headers.get("authorization", "").strip().partition(" ")
        token = credential.strip() if scheme.lower() in ("bearer", "token") else ""
        token = token or query.get("access_token", "")
        user = auth.verify_token(slug, token)
        if not user:
            return self.send(platform.unauthorized(), path)
        req.user, req.token = user, token
        try:
            response = platform.handle(req)
        except Exception:  # the sandbox must answer like a server would, not hang up
            log.exception("sandbox %s failed on %s", slug, rest)
            response = platform.server_error()
        return self.send(response, path)

    def control(self, path: str, body: bytes) -> SbResponse:
        sandbox = self.server.sandbox
        if path == "/_stats" and self.command == "GET":
            return SbResponse.json(sandbox.stats())
        if path == "/_stats/reset" and self.command == "POST":
            sandbox.reset()
            return SbResponse.json({"reset": True})
        if path == "/_config" and self.command == "POST":
            try:
                sandbox.config.update(json.loads(body or b"{}"))
            except (KeyError, ValueError, TypeError) as exc:
                return SbResponse.json({"error": f"unknown or bad knob: {exc}"}, 400)
            return SbResponse.json(asdict(sandbox.config))
        if path.startswith("/_hooks/"):
            status, answer = hooks.handle(sandbox, self.command, path, self.headers, body)
            return SbResponse.json(answer, status)
        if path == "/_health":
            return SbResponse.json({"ok": True, "platforms": sorted(sandbox.platforms)})
        return SbResponse.json({"error": "not found"}, 404)

    def send_media(self, req: SbRequest, name: str, path: str):
        # Test hooks of the media host: a redirect somewhere else, an error status, an HTML page
        # served under an image name.
        if "redirect" in req.query:
            return self.send(SbResponse.redirect(req.query["redirect"]), path)
        if "status" in req.query:
            return self.send(SbResponse(int(req.query["status"]), b"error\n", {"Content-Type": "text/plain"}), path)
        if req.query.get("html"):
            page = b"<!doctype html><html><body><h1>Sign in to continue</h1></body></html>\n"
            return self.send(SbResponse(200, page, {"Content-Type": "image/jpeg"}), path)
        try:
            _, total, content_type = media.render(name, req.query)
        except (KeyError, ValueError):
            return self.send(SbResponse.json({"error": "no such media"}, 404), path)
        start, end, status = 0, total - 1, 200
        range_header = req.headers.get("range", "")
        headers = {"Content-Type": content_type, "Accept-Ranges": "bytes", "Cache-Control": "max-age=86400"}
        if range_header.startswith("bytes="):
            first, _, last = range_header[6:].partition("-")
            try:
                start = int(first) if first else max(0, total - int(last))
                end = int(last) if first and last else total - 1
            except ValueError:
                start, end = 0, total - 1
            if start >= total:
                headers["Content-Range"] = f"bytes */{total}"
                return self.send(SbResponse(416, b"", headers), path)
            end = min(end, total - 1)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        body = media.stream(name, req.query, start, end)
        response = SbResponse(status, body, headers, length=end - start + 1)
        # `cut=1`: a whole-file request is cut off halfway (a resumed Range request is not).
        return self.send(response, path, cut=bool(req.query.get("cut")) and status == 200)

    def send(self, response: SbResponse, path: str, faults: bool = True, cut: bool = False):
        sandbox = self.server.sandbox
        config = sandbox.config
        body = response.body
        if isinstance(body, bytes | bytearray):
            length = len(body)
            pieces: Iterable[bytes] = [bytes(body)]
        else:
            length = response.length if response.length is not None else 0
            pieces = body
        truncate = cut or (faults and response.status < 300 and length > 1 and sandbox.chance(config.truncate_rate))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = length // 2 if truncate else length
        sent = 0
        try:
            for piece in pieces:
                for offset in range(0, len(piece), 65536):
                    chunk = piece[offset : offset + 65536][: limit - sent]
                    if not chunk:
                        break
                    if faults and config.slow_body_ms and sent:
                        time.sleep(config.slow_body_ms / 1000)
                    self.wfile.write(chunk)
                    self.wfile.flush()  # each piece leaves now: slow and cut-off bodies stay as they are
                    sent += len(chunk)
                if sent >= limit:
                    break
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            sandbox.add_bytes(path, sent)
            if truncate:
                self.close_connection = True


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        super().__init__((sandbox.config.host, sandbox.config.port), Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def serve_in_thread(config: SandboxConfig | None = None, slugs: Iterable[str] | None = None) -> SandboxServer:
    """Start a sandbox on a free port (config.port 0 picks one) in a daemon thread; for tests.
    Stop it with `server.shutdown(); server.server_close()`."""
    config = config or SandboxConfig(port=0)
    server = SandboxServer(Sandbox(config, slugs))
    if config.port == 0:
        config.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, name="sandbox", daemon=True).start()
    return server
