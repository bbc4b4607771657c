import io
import json
import tarfile
import zipfile

import pytest
from django.core.files.storage import default_storage

from exports.importing import job_import
from exports.models import MediaFile
from platforms.importer import archive_open
from platforms.registry import get_importer as importer_for
from tests.fixtures.archives import imported, unaccounted, uploaded_job

USERS = [
    {
        "type": "user",
        "url": "https://github.com/octo-friend",
        "login": "octo-friend",
        "name": "A Friend",
        "emails": [],
        "created_at": "2012-01-01T00:00:00Z",
    },
    {
        "type": "user",
        "url": "https://github.com/ada",
        "login": "ada",
        "name": "Ada",
        "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4",
        "company": "Analytical Engines",
        "website": "https://ada.example",
        "location": "London",
        "bio": "Poet of numbers",
        "emails": [{"address": "ada@example.com", "primary": True, "verified": True}],
        "created_at": "2011-02-03T04:05:06Z",
    },
]
REPOS = [
    {
        "type": "repository",
        "url": "https://github.com/ada/hello",
        "owner": "https://github.com/ada",
        "name": "hello",
        "description": "Hello, engine",
        "website": None,
        "private": False,
        "has_issues": True,
        "has_wiki": True,
        "has_downloads": True,
        "is_archived": False,
        "labels": [{"name": "bug", "color": "d73a4a"}],
        "collaborators": [],
        "created_at": "2015-06-07T08:09:10Z",
        "git_url": "tarball://root/repositories/ada/hello.git",
        "wiki_url": "tarball://root/repositories/ada/hello.wiki.git",
        "default_branch": "main",
    },
    {
        "type": "repository",
        "url": "https://github.com/ada/notes",
        "owner": "https://github.com/ada",
        "name": "notes",
        "private": True,
        "created_at": "2019-01-01T00:00:00Z",
        "git_url": "tarball://root/repositories/ada/notes.git",
        "wiki_url": "tarball://root/repositories/ada/notes.wiki.git",
        "default_branch": "main",
    },
    {"type": "repository", "url": "https://github.com/ada/broken"},
]
GIT = {
    "repositories/ada/hello.git/HEAD": b"ref: refs/heads/main\n",
    "repositories/ada/hello.git/config": b"[core]\n\tbare = true\n",
    "repositories/ada/hello.git/objects/pack/pack-1.pack": b"PACK\x00\x00\x00\x02" + bytes(range(256)) * 8,
    "repositories/ada/hello.wiki.git/HEAD": b"ref: refs/heads/master\n",
}


def members(*, all_git: bool = False) -> dict[str, bytes]:
    """GitHub's export; with `all_git`, every repository's git data is there (nothing to fetch)."""
    if all_git:
        return {**members(), "repositories/ada/notes.git/HEAD": b"ref: refs/heads/main\n"}
    return {
        "schema.json": b'{"version": "1.0.1"}',
        "users_000001.json": json.dumps(USERS).encode(),
        "repositories_000001.json": json.dumps(REPOS).encode(),
        **GIT,
    }


def tar_gz(found: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in found.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sample():
    importer = importer_for("github")
    archive = archive_open(io.BytesIO(tar_gz(members())))
    return importer, archive, list(importer.records(archive))


def test_the_account_and_its_repositories_become_rest_records(sample):
    importer, _, rows = sample
    assert [(r[0], importer.record_id(r[0], r[1])) for r in rows] == [
        ("user", "ada"),
        ("repos", "ada/hello"),
        ("repos", "ada/notes"),
    ]
    user = rows[0][1]
    assert user["login"] == "ada" and user["blog"] == "https://ada.example" and user["email"] == "ada@example.com"
    assert user["created_at"] == "2011-02-03T04:05:06Z"
    repo = rows[1][1]
    assert repo["full_name"] == "ada/hello" and repo["owner"]["login"] == "ada"
    assert repo["html_url"] == "https://github.com/ada/hello" and repo["default_branch"] == "main"
    assert repo["archive"]["labels"] == [{"name": "bug", "color": "d73a4a"}]
    assert importer.extractor.record_timestamp("repos", repo) == "2015-06-07T08:09:10Z"


def test_a_repository_that_cannot_be_read_is_skipped(sample):
    importer, _, _ = sample
    assert [s["resource"] for s in importer.skipped] == ["repos"]
    assert "name or owner" in importer.skipped[0]["reason"]


def test_a_repository_s_media_is_its_git_folder_and_its_wiki_when_there_is_one(sample):
    _, _, rows = sample
    hello, notes = rows[1][2], rows[2][2]
    assert [(m.media_id, m.folder, m.kind, m.ext) for m in hello] == [
        ("repo_ada_hello_git", "repositories/ada/hello.git/", "file", "zip"),
        ("repo_ada_hello_wiki", "repositories/ada/hello.wiki.git/", "file", "zip"),
    ]
    # Not in the archive: GitHub's source archive of the repository is fetched instead.
    assert [(m.media_id, m.url) for m in notes] == [
        ("repo_ada_notes_git", "https://api.github.com/repos/ada/notes/zipball")
    ]


def test_a_github_export_is_detected_by_its_repository_shards():
    importer = importer_for("github")
    assert importer.detect(list(members()))
    assert not importer.detect(["posts.csv", "data/tweets.js"])


@pytest.mark.django_db
def test_an_import_keeps_each_repository_s_git_data_as_one_zip(make_user, platforms, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    settings.VAR_DIR = tmp_path / "var"
    job = uploaded_job(make_user("ada"), "github", tar_gz(members()), name="github-ada.tar.gz")
    job_import(job)
    job.refresh_from_db()
    files = {m.media_id: m for m in job.media_files.all()}
    git = files["repo_ada_hello_git"]
    assert (git.status, git.content_type, git.ext) == (MediaFile.Status.DONE, "application/zip", "zip")
    with zipfile.ZipFile(default_storage.open(git.stored_name)) as packed:
        assert sorted(packed.namelist()) == ["hello.git/HEAD", "hello.git/config", "hello.git/objects/pack/pack-1.pack"]
        assert (
            packed.read("hello.git/objects/pack/pack-1.pack")
            == GIT["repositories/ada/hello.git/objects/pack/pack-1.pack"]
        )
    assert files["repo_ada_hello_wiki"].status == MediaFile.Status.DONE
    assert (files["repo_ada_notes_git"].status, files["repo_ada_notes_git"].record_ids) == ("pending", ["ada/notes"])
    assert job.account["login"] == "ada"
    assert job.records.filter(resource="repos").count() == 2
    assert "archive covers 2015-06-07 to 2019-01-01" in job.notes
    # The ZIPs were written in the job's temporary folder, which is gone again.
    assert not (tmp_path / "var" / "partial" / str(job.id)).exists()


def everything() -> dict[str, bytes]:
    """The migration archive's other shards: issues, pull requests, reviews, comments, releases
    with an asset, attachments, milestones, and the files they point to."""
    from platforms.sandbox.media import image

    hello = "https://github.com/ada/hello"
    shards = {
        "issues_000001.json": [{"type": "issue", "url": f"{hello}/issues/1", "repository": hello, "user": "https://github.com/ada",
                                "title": "It breaks", "body": "See the screenshot", "state": "open", "created_at": "2016-01-02T03:04:05Z"}],
        "pull_requests_000001.json": [{"type": "pull_request", "url": f"{hello}/pull/2", "repository": hello, "title": "Fix it",
                                       "body": "", "base": {"ref": "main"}, "head": {"ref": "fix"}, "created_at": "2016-02-03T04:05:06Z"}],
        "pull_request_reviews_000001.json": [{"type": "pull_request_review", "url": f"{hello}/pull/2/files#pullrequestreview-7",
                                              "pull_request": f"{hello}/pull/2", "body": "Looks good", "state": 40,
                                              "created_at": "2016-02-04T00:00:00Z"}],
        "issue_comments_000001.json": [{"type": "issue_comment", "url": f"{hello}/issues/1#issuecomment-9", "issue": f"{hello}/issues/1",
                                        "body": "Still broken", "created_at": "2016-01-03T00:00:00Z"}],
        "milestones_000001.json": [{"type": "milestone", "url": f"{hello}/milestone/1", "title": "v1", "created_at": "2016-01-01T00:00:00Z"}],
        "releases_000001.json": [{"type": "release", "url": f"{hello}/releases/tag/v1", "name": "v1", "tag_name": "v1",
                                  "release_assets": [{"type": "release_asset", "url": f"{hello}/releases/download/v1/tool.zip",
                                                      "asset_name": "tool.zip", "asset_content_type": "application/zip",
                                                      "asset_url": "tarball://root/releases/ada/hello/abc/tool.zip",
                                                      "created_at": "2016-03-01T00:00:00Z"}],
                                  "created_at": "2016-03-01T00:00:00Z"}],
        "attachments_000001.json": [{"type": "attachment", "url": f"{hello}/issues/1#attachment-1", "issue": f"{hello}/issues/1",
                                     "asset_name": "screen.png", "asset_content_type": "image/png",
                                     "asset_url": "tarball://root/attachments/def/screen.png", "created_at": "2016-01-02T03:04:05Z"}],
        "organizations_000001.json": [{"type": "organization", "url": "https://github.com/engines", "login": "engines"}],
    }  # fmt: skip
    found = {**members(all_git=True), **{name: json.dumps(items).encode() for name, items in shards.items()}}
    found["releases/ada/hello/abc/tool.zip"] = b"PK\x05\x06" + bytes(18)
    found["attachments/def/screen.png"] = image("screen", fmt="png")
    return found


@pytest.mark.django_db
def test_issues_pull_requests_reviews_comments_releases_and_attachments_are_read(
    make_user, platforms, settings, tmp_path
):
    found = everything()
    job = imported(
        make_user("ada"), "github", tar_gz(found), settings=settings, tmp_path=tmp_path, name="github-ada.tar.gz"
    )
    hello = "https://github.com/ada/hello"
    got = sorted((r.resource, r.external_id) for r in job.records.exclude(resource__in=["user", "repos"]))
    assert got == [
        ("attachments", f"{hello}/issues/1#attachment-1"),
        ("issue_comments", f"{hello}/issues/1#issuecomment-9"),
        ("issues", f"{hello}/issues/1"),
        ("milestones", f"{hello}/milestone/1"),
        ("pull_request_reviews", f"{hello}/pull/2/files#pullrequestreview-7"),
        ("pull_requests", f"{hello}/pull/2"),
        ("releases", f"{hello}/releases/tag/v1"),
    ]
    issue = job.records.get(resource="issues").data
    assert (issue["title"], issue["body"], issue["created_at"]) == (
        "It breaks",
        "See the screenshot",
        "2016-01-02T03:04:05Z",
    )
    files = {
        m.extra["archive_member"]: m
        for m in job.media_files.filter(kind="file").exclude(ext="zip", extra__git__isnull=False)
    }
    with tarfile.open(fileobj=io.BytesIO(tar_gz(found))) as packed:
        for member in ("releases/ada/hello/abc/tool.zip", "attachments/def/screen.png"):
            stored = default_storage.open(files[member].stored_name).read()
            assert stored == packed.extractfile(member).read()
    assert files["attachments/def/screen.png"].record_ids == [f"{hello}/issues/1#attachment-1"]
    assert "schema.json: the archive's format version" in job.notes
    assert "organizations_000001.json: settings and people of the repositories, not your content" in job.notes
    git = {n for n in found if n.startswith("repositories/")}
    named = {"schema.json", "organizations_000001.json"}
    assert unaccounted(job, found) - git == {n for n in found if n.endswith(".json")} - named


@pytest.mark.django_db
def test_repository_files_and_discussions_are_read_and_bots_named(make_user, platforms, settings, tmp_path):
    """A 2026 account export also holds repository_files_… (files attached to issues and pull
    requests, at `tarball://root/repository_files/<id>/<name>`), discussions, bots and discussion
    categories; one attached file is absent."""
    import hashlib

    hello = "https://github.com/ada/hello"
    shards = {
        "repository_files_000001.json": [
            {"type": "repository_file", "url": f"{hello}/files/11/notes.pdf", "repository": hello,
             "user": "https://github.com/ada", "file_name": "notes.pdf", "file_content_type": "application/pdf",
             "file_url": "tarball://root/repository_files/11/notes.pdf", "created_at": "2026-01-02T03:04:05Z"},
            {"type": "repository_file", "url": f"{hello}/files/12/gone.txt", "repository": hello,
             "user": "https://github.com/ada", "file_name": "gone.txt", "file_content_type": "text/plain",
             "file_url": "tarball://root/repository_files/12/gone.txt", "created_at": "2026-01-03T03:04:05Z"},
        ],
        "discussions_000001.json": [{"type": "discussion", "url": f"{hello}/discussions/3", "repository": hello,
                                     "title": "Ideas", "body": "What next?", "created_at": "2026-01-04T00:00:00Z"}],
        "discussion_comments_000001.json": [{"type": "discussion_comment", "url": f"{hello}/discussions/3#discussioncomment-4",
                                             "discussion": f"{hello}/discussions/3", "body": "Tests", "created_at": "2026-01-05T00:00:00Z"}],
        "discussion_categories_000001.json": [{"type": "discussion_category", "url": f"{hello}/discussions/categories/general"}],
        "bots_000001.json": [{"type": "bot", "url": "https://github.com/apps/dependabot"}],
    }  # fmt: skip
    pdf = b"%PDF-1.4\n% a test file\n" + bytes(range(64))
    found = {**members(all_git=True), **{name: json.dumps(items).encode() for name, items in shards.items()}}
    found["repository_files/11/notes.pdf"] = pdf
    job = imported(
        make_user("ada"), "github", tar_gz(found), settings=settings, tmp_path=tmp_path, name="github-ada.tar.gz"
    )
    got = sorted((r.resource, r.external_id) for r in job.records.exclude(resource__in=["user", "repos"]))
    assert got == [
        ("discussion_comments", f"{hello}/discussions/3#discussioncomment-4"),
        ("discussions", f"{hello}/discussions/3"),
        ("repository_files", f"{hello}/files/11/notes.pdf"),
        ("repository_files", f"{hello}/files/12/gone.txt"),
    ]
    files = {m.caption: m for m in job.media_files.all() if m.caption in ("notes.pdf", "gone.txt")}
    assert set(files) == {"notes.pdf", "gone.txt"}
    assert files["notes.pdf"].status == "done" and files["notes.pdf"].sha256 == hashlib.sha256(pdf).hexdigest()
    assert files["gone.txt"].status == "failed"
    assert files["gone.txt"].extra["missing_from_archive"] == "repository_files/12/gone.txt"
    for name in ("bots_000001.json", "discussion_categories_000001.json"):
        assert f"{name}: settings and people of the repositories, not your content" in job.notes
    git = {n for n in found if n.startswith("repositories/")}
    named = {"schema.json", "bots_000001.json", "discussion_categories_000001.json"}
    assert unaccounted(job, found) - git == {n for n in found if n.endswith(".json")} - named
