"""GitHub's REST API in the sandbox: /user, /user/repos, /user/starred (star+json), /gists with
`Link` pagination, rate-limit headers and GitHub's own error bodies; /repos/{owner}/{repo}/zipball
redirects to a ZIP on the media host as GitHub's does to codeload.github.com."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from platforms.sandbox import auth
from platforms.sandbox.core import PlatformSandbox, SbRequest, SbResponse

EPOCH = datetime(2015, 3, 1, tzinfo=UTC)
DOCS = "https://docs.github.com/rest"
# GitHub Enterprise serves the REST API under /api/v3; allauth's GITHUB_URL setting assumes it.
ENTERPRISE_API = "/api/v3"
LANGUAGES = ["Python", "Go", "Rust", "TypeScript", "C", None]
ZIPBALL = re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>project-(?P<n>\d{3}))/zipball(?:/(?P<ref>[^/]+))?")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Sandbox(PlatformSandbox):
    slug = "github"
    default_page_size = 30
    # GitHub's own OAuth paths: allauth derives them from GITHUB_URL.
    authorize_path = "/login/oauth/authorize"
    token_path = "/login/oauth/access_token"

    # --- data ----------------------------------------------------------------------------------
    def user(self, req: SbRequest) -> dict:
        login = req.user
        uid = 1000 + sum(map(ord, login))
        return {
            "login": login,
            "id": uid,
            "node_id": f"MDQ6VXNlcnt{uid}",
            "avatar_url": self.media_url(req, f"avatar-{login}.png", w=460, h=460),
            "html_url": f"https://github.com/{login}",
            "type": "User",
            "site_admin": False,
            "name": f"{login.title()} Example",
            "company": "Star Export",
            "blog": "",
            "location": "Lisbon",
            "email": f"{login}@example.com",
            "bio": "Exports everything.",
            "public_repos": self.config.records,
            "public_gists": self.config.records,
            "followers": 42,
            "following": 7,
            "created_at": _iso(EPOCH),
            "updated_at": _iso(EPOCH + timedelta(days=3000)),
            "private_gists": 2,
            "two_factor_authentication": True,
            "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
        }

    def emails(self, req: SbRequest) -> list[dict]:
        return [
            {"email": f"{req.user}@example.com", "primary": True, "verified": True, "visibility": "private"},
            {"email": f"{req.user}@users.noreply.github.com", "primary": False, "verified": True, "visibility": None},
        ]

    def repo(self, req: SbRequest, owner: str, n: int) -> dict:
        rng = self.rng("repo", owner, n)
        name = f"project-{n:03d}"
        created = EPOCH + timedelta(days=n * 9, hours=rng.randint(0, 23))
        full = f"{owner}/{name}"
        return {
            "id": 500000 + n + (0 if owner == req.user else 100000),
            "node_id": f"MDEwOlJlcG9zaXRvcnk{n}",
            "name": name,
            "full_name": full,
            "private": n % 7 == 0,
            "owner": {"login": owner, "id": 1000 + sum(map(ord, owner)), "type": "User"},
            "html_url": f"https://github.com/{full}",
            "description": f"Project number {n}: {rng.choice(['a parser', 'a CLI', 'a web app', 'notes'])}",
            "fork": n % 5 == 0,
            "url": f"{req.base_url}/repos/{full}",
            "archive_url": f"{req.base_url}/repos/{full}/{{archive_format}}{{/ref}}",
            "created_at": _iso(created),
            "updated_at": _iso(created + timedelta(days=30)),
            "pushed_at": _iso(created + timedelta(days=31)),
            "homepage": None,
            "size": rng.randint(10, 5000),
            "stargazers_count": rng.randint(0, 300),
            "watchers_count": rng.randint(0, 300),
            "language": rng.choice(LANGUAGES),
            "forks_count": rng.randint(0, 20),
            "open_issues_count": rng.randint(0, 9),
            "default_branch": "main",
            "topics": ["export", f"topic-{n % 4}"],
            "visibility": "private" if n % 7 == 0 else "public",
            "license": {"key": "mit", "name": "MIT License", "spdx_id": "MIT"} if n % 2 else None,
        }

    def gist(self, req: SbRequest, n: int) -> dict:
        created = EPOCH + timedelta(days=n * 11)
        gid = f"{n:04x}aa{sum(map(ord, req.user)):x}"
        filename = f"snippet_{n}.py"
        return {
            "id": gid,
            "node_id": f"MDQ6R2lzdH{n}",
            "url": f"{req.base_url}/gists/{gid}",
            "html_url": f"https://gist.github.com/{gid}",
            "public": n % 3 != 0,
            "description": f"Snippet {n}",
            "comments": n % 4,
            "created_at": _iso(created),
            "updated_at": _iso(created + timedelta(days=2)),
            "owner": {"login": req.user, "type": "User"},
            "truncated": False,
            "files": {
                filename: {
                    "filename": filename,
                    "type": "application/x-python",
                    "language": "Python",
                    "raw_url": self.media_url(req, f"gist-{gid}-{filename}.txt"),
                    "size": 32,
                }
            },
        }

    # --- OAuth ---------------------------------------------------------------------------------
    def token(self, req: SbRequest) -> SbResponse:
        """GitHub's OAuth app token: it never expires, so there is no refresh token. Form-encoded
        unless JSON is asked for, and a bad code is a 200 with an `error`, as GitHub answers."""
        user = auth.verify_token(self.slug, {**req.query, **req.form()}.get("code"), kind="code")
        if user:
            data = {"access_token": auth.mint_token(self.slug, user), "token_type": "bearer", "scope": ""}
        else:
            data = {
                "error": "bad_verification_code",
                "error_description": "The code passed is incorrect or expired.",
                "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code",
            }
        if "application/json" in req.headers.get("accept", ""):
            return SbResponse.json(data)
        return SbResponse(
            200, urlencode(data).encode(), {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        )

    # --- routing -------------------------------------------------------------------------------
    def handle(self, req: SbRequest) -> SbResponse:
        n = self.config.records
        if req.path.startswith(ENTERPRISE_API + "/"):
            req.path = req.path[len(ENTERPRISE_API) :]
        if req.path == "/user":
            return self.ok(self.user(req))
        if req.path == "/user/emails":
            return self.ok(self.emails(req))
        if req.path == "/user/repos":
            # GitHub sorts by full_name ascending, or newest first when sorting by a date.
            repos = [self.repo(req, req.user, i) for i in range(1, n + 1)]
            by_date = req.query.get("sort") in ("created", "updated", "pushed")
            return self.paged(req, self.ordered(req, repos, newest_first_by_default=by_date))
        if req.path == "/user/starred":
            repos = [self.repo(req, f"friend{i % 5}", i) for i in range(1, n + 1)]
            if "star+json" in req.headers.get("accept", ""):
                starred = []
                for i, repo in enumerate(repos):
                    starred.append({"starred_at": _iso(EPOCH + timedelta(days=100 + i * 5)), "repo": repo})
                return self.paged(req, self.ordered(req, starred, newest_first_by_default=True))
            return self.paged(req, self.ordered(req, repos, newest_first_by_default=True))
        if req.path == "/gists":
            return self.paged(req, list(reversed([self.gist(req, i) for i in range(1, n + 1)])))
        if match := ZIPBALL.fullmatch(req.path):
            return self.zipball(req, **match.groupdict())
        return self.not_found()

    def zipball(self, req: SbRequest, owner: str, repo: str, n: str, ref: str | None) -> SbResponse:
        # Only repositories this identity can see: its own and those its stars point at.
        number = int(n)
        if not 1 <= number <= self.config.records or owner not in (req.user, f"friend{number % 5}"):
            return self.not_found()
        # Like codeload: the archive is named after owner, repository and ref, so two owners'
        # `project-001` are different files.
        location = self.media_url(req, f"{owner}-{repo}-{ref or 'main'}.zip")
        return SbResponse.redirect(location)

    @staticmethod
    def ordered(req: SbRequest, items: list, *, newest_first_by_default: bool) -> list:
        """Items are generated oldest first; `direction` (GitHub's parameter) may turn them."""
        direction = req.query.get("direction") or ("desc" if newest_first_by_default else "asc")
        return list(reversed(items)) if direction == "desc" else items

    def rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Used": "1",
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Resource": "core",
        }

    def ok(self, data) -> SbResponse:
        return SbResponse.json(data, headers=self.rate_headers())

    def paged(self, req: SbRequest, items: list) -> SbResponse:
        try:
            per_page = min(100, max(1, int(req.query.get("per_page", self.page_size))))
            page = max(1, int(req.query.get("page", 1)))
        except ValueError:
            return SbResponse.json({"message": "Invalid page", "documentation_url": DOCS}, 422)
        # The sandbox's page size knob caps what a client may ask for, so small data still pages.
        if self.config.page_size:
            per_page = min(per_page, self.config.page_size)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        base = f"{req.base_url}{req.path}"
        # GitHub's links keep the request's other parameters (sort, direction, ...).
        kept = {k: v for k, v in req.query.items() if k not in ("page", "per_page")}

        def link(number: int, rel: str) -> str:
            return f'<{base}?{urlencode({**kept, "per_page": per_page, "page": number})}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = self.rate_headers()
        if links:
            headers["Link"] = ", ".join(links)
        return SbResponse.json(chunk, headers=headers)

    def unauthorized(self) -> SbResponse:
        return SbResponse.json({"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}, 401)

    def rate_limited(self, retry_after: int) -> SbResponse:
        headers = {**self.rate_headers(), "X-RateLimit-Remaining": "0"}
        headers["X-RateLimit-Reset"] = str(int(time.time()) + retry_after)
        body = {"message": "API rate limit exceeded for user.", "documentation_url": DOCS, "status": "429"}
        return SbResponse.json(body, 429, headers)

    def server_error(self) -> SbResponse:
        return SbResponse.json({"message": "Server Error", "documentation_url": DOCS, "status": "503"}, 503)

    def not_found(self) -> SbResponse:
        return SbResponse.json({"message": "Not Found", "documentation_url": DOCS, "status": "404"}, 404)
