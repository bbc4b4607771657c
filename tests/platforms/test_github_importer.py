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
from tests.fixtures.archives import uploaded_job

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
