"""GitHub's account export (Settings → Account → Export account data): a .tar.gz migration archive.

Layout (at the top of the archive):
    schema.json
    users_000001.json           the account and the people its repositories mention
    repositories_000001.json    one object per repository: url, owner (a URL), name, description,
                                private, created_at, default_branch, git_url
                                (`tarball://root/repositories/<owner>/<name>.git`), wiki_url, labels, …
    repositories/<owner>/<name>.git/…  each repository's complete git data (a bare repository)
    issues_…, pull_requests_…, pull_request_reviews_…, issue_comments_…, releases_…, milestones_…,
    attachments_…, repository_files_…, discussions_… (each read as records of its own resource, keyed
    by URL), and the files they point to (`tarball://root/attachments/…`,
    `tarball://root/repository_files/<id>/<name>`, release assets) as their media

Records take the REST API's shapes (`user`, `repos`). The archive gives no numeric ids, so a
repository is known by its full name and the account by its login. A repository's media is its
git data, kept as one ZIP (kind "file") — its whole history, where an API export has a snapshot of
the default branch. The export holds neither stars nor gists.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

from platforms.importer import ArchiveReader, BaseImporter, ImportedMedia, iso_from

SHARDS = {
    "repos": re.compile(r"(?:^|/)repositories_\d+\.json$"),
    "user": re.compile(r"(?:^|/)users_\d+\.json$"),
}
TARBALL = "tarball://root/"
# The migration archive's other shards, each read as records of its own resource.
CONTENT_SHARDS = re.compile(
    r"(?:^|/)(issues|pull_requests|pull_request_reviews|pull_request_review_comments|pull_request_review_threads|"
    r"issue_comments|commit_comments|issue_events|releases|milestones|attachments|projects|repository_files|"
    r"discussions|discussion_comments)_\d+\.json$"
)
OTHERS = (
    (re.compile(r"(?:^|/)schema\.json$"), "the archive's format version"),
    (re.compile(r"(?:^|/)(?:organizations|teams|protected_branches|users|bots|discussion_categories)_\d+\.json$"),
     "settings and people of the repositories, not your content"),
)  # fmt: skip


def _tarball_urls(value) -> list[str]:
    """The files (not repositories) an entry points to inside the archive."""
    found = []
    if isinstance(value, dict):
        for v in value.values():
            found.extend(_tarball_urls(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(_tarball_urls(v))
    elif isinstance(value, str) and value.startswith(TARBALL) and not value.rstrip("/").endswith(".git"):
        found.append(value)
    return list(dict.fromkeys(found))


def _login(url: str | None) -> str:
    return urlsplit(url or "").path.strip("/").split("/")[0] if url else ""


class Importer(BaseImporter):
    slug = "github"
    name = "GitHub"
    expected = "it has no repositories_000001.json (export your account data from GitHub's account settings)."

    others = OTHERS

    def detect(self, names: list[str]) -> bool:
        return any(SHARDS["repos"].search(n) for n in names)

    def records(self, archive: ArchiveReader) -> Iterator[tuple[str, dict, list[ImportedMedia]]]:
        self.archive = archive
        names = archive.namelist()
        top = next((n[: -len(n.rsplit("/", 1)[-1])] for n in names if SHARDS["repos"].search(n)), "")
        self.top = top
        # Every bare repository the archive holds, by its folder (`repositories/<owner>/<name>.git/`).
        self.folders = {n[: n.index(".git/") + 5] for n in names if ".git/" in n}
        repos = [r for n in sorted(x for x in names if SHARDS["repos"].search(x)) for r in self.load_list(n)]
        users = [u for n in sorted(x for x in names if SHARDS["user"].search(x)) for u in self.load_list(n)]
        owners = Counter(_login(r.get("owner")) for r in repos if isinstance(r, dict))
        # The account is the user who owns most of the exported repositories (the archive also
        # lists everyone who took part in them).
        login = owners.most_common(1)[0][0] if owners else ""
        me = next((u for u in users if isinstance(u, dict) and u.get("login", "").lower() == login.lower()), None)
        if me is None and users:
            me = users[0] if isinstance(users[0], dict) else None
        if me is not None:
            yield from self.each("user", [me], lambda u: (self.user(u), []))
        yield from self.each("repos", repos, self.repo)
        shards: dict[str, list[str]] = {}
        for n in sorted(names):
            if match := CONTENT_SHARDS.search(n):
                shards.setdefault(match.group(1), []).append(n)
        for resource, files in shards.items():
            for name in files:
                yield from self.each(
                    resource, self.load_list(name), lambda raw, r=resource: self.shard(r, raw), where=name
                )

    def shard(self, resource: str, raw: dict) -> tuple[dict, list[ImportedMedia]]:
        """An issue, pull request, review, comment, release, milestone or attachment as the
        archive writes it, keyed by its URL; the files it points into the archive are its media."""
        record_id = raw.get("url") or raw.get("asset_url")
        if not record_id:
            raise ValueError("an entry without its url")
        record = {"id": record_id, **raw, "created_at": iso_from(raw.get("created_at"))}
        media = []
        for url in _tarball_urls(raw):
            member = f"{self.top}{url[len(TARBALL) :]}"
            name = member.rsplit("/", 1)[-1]
            media.append(
                ImportedMedia(
                    member=member,
                    kind="file",
                    media_id=f"gh_{hashlib.sha1(member.encode()).hexdigest()[:16]}",
                    record_id=record_id,
                    timestamp=record["created_at"],
                    caption=raw.get("asset_name") or raw.get("file_name") or raw.get("name") or name,
                    ext=name.rsplit(".", 1)[-1].lower() if "." in name else "",
                    extra={"archive_path": url},
                )
            )
        return {k: v for k, v in record.items() if v is not None}, media

    def load_list(self, name: str) -> list:
        data = self.load_json(self.archive, name)
        return data if isinstance(data, list) else []

    def user(self, raw: dict) -> dict:
        login = raw.get("login") or _login(raw.get("url"))
        if not login:
            raise ValueError("a user without a login")
        emails = raw.get("emails") or []
        primary = next((e.get("address") for e in emails if isinstance(e, dict) and e.get("primary")), None)
        record = {
            "login": login,
            "type": "User",
            "name": raw.get("name"),
            "html_url": raw.get("url"),
            "avatar_url": raw.get("avatar_url"),
            "company": raw.get("company"),
            "blog": raw.get("website"),
            "location": raw.get("location"),
            "bio": raw.get("bio"),
            "email": primary,
            "created_at": iso_from(raw.get("created_at")),
        }
        rest = {k: v for k, v in raw.items() if k not in ("login", "name", "url", "avatar_url", "company", "website")}
        rest = {k: v for k, v in rest.items() if k not in ("location", "bio", "created_at", "type") and v}
        if rest:
            record["archive"] = rest
        return {k: v for k, v in record.items() if v is not None}

    def repo(self, raw: dict) -> tuple[dict, list[ImportedMedia]]:
        name = raw.get("name")
        owner = _login(raw.get("owner")) or _login(raw.get("url"))
        if not name or not owner:
            raise ValueError("a repository without its name or owner")
        full_name = f"{owner}/{name}"
        created = iso_from(raw.get("created_at"))
        record = {
            "name": name,
            "full_name": full_name,
            "owner": {"login": owner, "html_url": raw.get("owner")},
            "private": bool(raw.get("private")),
            "html_url": raw.get("url") or f"https://github.com/{full_name}",
            "description": raw.get("description"),
            "homepage": raw.get("website"),
            "created_at": created,
            "default_branch": raw.get("default_branch"),
            "has_issues": raw.get("has_issues"),
            "has_wiki": raw.get("has_wiki"),
            "has_downloads": raw.get("has_downloads"),
            "archived": raw.get("is_archived"),
        }
        mapped = {"name", "owner", "private", "url", "description", "website", "created_at", "default_branch"}
        mapped |= {"has_issues", "has_wiki", "has_downloads", "is_archived", "type"}
        rest = {k: v for k, v in raw.items() if k not in mapped}
        if rest:
            record["archive"] = rest
        record = {k: v for k, v in record.items() if v is not None}
        media = []
        for key, suffix in (("git_url", "git"), ("wiki_url", "wiki")):
            folder = self.folder(raw.get(key))
            # A wiki nobody wrote is named but not exported; a missing repository is fetched instead.
            if not folder or (suffix == "wiki" and folder not in self.folders):
                continue
            media.append(
                ImportedMedia(
                    member=None,
                    folder=folder,
                    # Without its git data in the archive, the source archive GitHub serves instead.
                    url=f"https://api.github.com/repos/{full_name}/zipball" if suffix == "git" else "",
                    kind="file",
                    media_id=f"repo_{owner}_{name}_{suffix}",
                    record_id=full_name,
                    timestamp=created,
                    caption=full_name if suffix == "git" else f"{full_name} (wiki)",
                    ext="zip",
                    extra={"full_name": full_name, "git": suffix, "private": bool(raw.get("private"))},
                )
            )
        return record, media

    def folder(self, url: str | None) -> str | None:
        if not url or not url.startswith(TARBALL):
            return None
        return f"{self.top}{url[len(TARBALL) :].rstrip('/')}/"

    def record_id(self, resource: str, record: dict) -> str:
        if record.get("id") is not None:
            return str(record["id"])
        return record.get("full_name") or record.get("login") or ""
