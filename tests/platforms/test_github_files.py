import importlib
import io
import re
import zipfile
from urllib.parse import urlsplit

import pytest
import requests
import responses

from platforms.base import FetchContext
from platforms.client import ApiClient
from platforms.github.extractor import NOT_OWNED_NOTE, expand_template
from platforms.registry import get_extractor
from platforms.sandbox.auth import mint_token

API = "https://api.github.com"
SAFE_ID = r"[A-Za-z0-9_.-]+"


@pytest.fixture
def github():
    return get_extractor("github")


def repo(n: int, *, owner: str = "octocat", fork: bool = False, **fields) -> dict:
    full = f"{owner}/repo-{n}"
    return {
        "id": n,
        "name": f"repo-{n}",
        "full_name": full,
        "owner": {"login": owner, "type": "User"},
        "private": False,
        "fork": fork,
        "url": f"{API}/repos/{full}",
        "archive_url": f"{API}/repos/{full}/{{archive_format}}{{/ref}}",
        "created_at": "2020-01-01T10:00:00Z",
        "pushed_at": "2021-06-01T12:30:00Z",
        "size": 120,
        "default_branch": "main",
        **fields,
    }


# --- repositories ----------------------------------------------------------------------------------
def test_a_repository_of_ones_own_gives_its_zipball_as_one_file(github, sample):
    page = github.parse("repos", sample("github/user_repos_docs_example.json"))
    assert len(page.media) == 1
    item = page.media[0]
    assert item.kind == "file"
    assert item.ext == "zip"
    assert item.url == "https://api.github.com/repos/octocat/Hello-World/zipball"
    assert item.media_id == "repo_1296269"
    assert item.record_id == "1296269"
    assert item.caption == "octocat/Hello-World"
    assert item.extra == {
        "full_name": "octocat/Hello-World",
        "default_branch": "master",
        "size_kb": 108,
        "private": False,
        "pushed_at": "2011-01-26T19:06:43Z",
    }


def test_a_file_is_dated_by_its_record_so_it_sits_beside_it_in_the_archive(github, sample):
    body = sample("github/user_repos_docs_example.json")
    [item] = github.parse("repos", body).media
    assert item.timestamp == github.record_timestamp("repos", body[0]) == "2011-01-26T19:01:12Z"
    gists = sample("github/gists_docs_example.json")
    [item] = github.parse("gists", gists).media
    assert item.timestamp == github.record_timestamp("gists", gists[0]) == "2010-04-14T02:15:15Z"
    assert item.extra["updated_at"] == "2011-06-20T11:34:15Z"


def test_a_fork_gives_no_file(github, sample):
    body = sample("github/user_repos_octokit_rb_cassette.json")
    fork = next(r for r in body if r["fork"])
    page = github.parse("repos", body)
    assert str(fork["id"]) not in {m.record_id for m in page.media}
    assert len(page.media) == len([r for r in body if not r["fork"]])
    assert github.parse("repos", [repo(1, fork=True)]).media == []


def test_the_archive_url_template_expands_to_zipball_without_a_ref(github):
    assert expand_template(f"{API}/repos/o/r/{{archive_format}}{{/ref}}", archive_format="zipball") == (
        f"{API}/repos/o/r/zipball"
    )
    assert expand_template("/x/{archive_format}{/ref}", archive_format="zipball", ref="v1") == "/x/zipball/v1"
    [item] = github.parse("repos", [repo(7)]).media
    assert item.url == f"{API}/repos/octocat/repo-7/zipball"


def test_a_repository_without_archive_url_falls_back_to_its_api_url(github):
    [item] = github.parse("repos", [repo(8, archive_url=None)]).media
    assert item.url == f"{API}/repos/octocat/repo-8/zipball"


def test_starred_repositories_and_the_profile_give_no_files(github, sample):
    assert github.parse("starred", sample("github/starred_star_json_docs_example.json")).media == []
    assert github.parse("user", sample("github/user_docs_example.json")).media == []


# --- gists -----------------------------------------------------------------------------------------
def test_each_gist_file_is_one_file_item(github, sample):
    body = sample("github/gists_docs_example.json")
    [item] = github.parse("gists", body).media
    gist = body[0]
    assert item.kind == "file"
    assert item.url == gist["files"]["hello_world.rb"]["raw_url"]
    assert item.media_id == "gist_aa5a315d61ae9438b18d_hello_world.rb"
    assert item.record_id == "aa5a315d61ae9438b18d"
    assert item.ext == "rb"
    assert item.caption == "hello_world.rb"
    assert item.extra == {
        "language": "Ruby",
        "size": 167,
        "gist_id": "aa5a315d61ae9438b18d",
        "updated_at": "2011-06-20T11:34:15Z",
    }


def test_a_gist_with_two_files_gives_two_items_with_distinct_safe_ids(github):
    files = {
        "my notes.md": {"filename": "my notes.md", "language": "Markdown", "size": 10, "raw_url": "https://g/1"},
        "my_notes.md": {"filename": "my_notes.md", "language": "Markdown", "size": 12, "raw_url": "https://g/2"},
    }
    gist = {"id": "abc123", "created_at": "2019-05-05T05:05:05Z", "files": files}
    items = github.parse("gists", [gist]).media
    assert len(items) == 2
    ids = [m.media_id for m in items]
    assert len(set(ids)) == 2
    assert all(re.fullmatch(SAFE_ID, i) for i in ids)
    assert all(i.startswith("gist_abc123_") for i in ids)
    assert [m.ext for m in items] == ["md", "md"]
    assert {m.timestamp for m in items} == {"2019-05-05T05:05:05Z"}
    assert [m.extra["size"] for m in items] == [10, 12]


def test_gist_file_names_cannot_escape_or_grow_without_bound(github):
    names = ["../../etc/passwd", "Makefile", "x" * 400 + ".py", ".bashrc"]
    files = {n: {"filename": n, "raw_url": f"https://g/{i}", "size": 1} for i, n in enumerate(names)}
    items = github.parse("gists", [{"id": "g1", "files": files}]).media
    ids = [m.media_id for m in items]
    assert len(set(ids)) == len(names)
    for media_id in ids:
        assert "/" not in media_id and ".." not in media_id
        assert len(media_id) < 200
    assert [m.ext for m in items] == ["txt", "txt", "py", "txt"]


def test_a_gist_file_without_a_raw_url_is_left_out(github):
    gist = {"id": "g2", "files": {"a.py": {"filename": "a.py"}, "b.py": None}}
    page = github.parse("gists", [gist])
    assert page.records == [gist]
    assert page.media == []


# --- pages(): only the user's own repositories ----------------------------------------------------
@responses.activate
def test_pages_keep_archives_only_of_repositories_the_user_owns(github, sample):
    responses.get(f"{API}/user", json=sample("github/user_docs_example.json"))
    mine, theirs, org = repo(1), repo(2, owner="someone-else"), repo(3, owner="an-org")
    responses.get(f"{API}/user/repos", json=[mine, theirs, org])
    responses.get(f"{API}/user/starred", json=[])
    responses.get(f"{API}/gists", json=[])
    client = ApiClient(github, base_url=API, token="t", session=requests.Session(), sleep=lambda s: None)
    ctx = FetchContext()
    pages = dict(github.pages(client, ctx))
    assert len(pages["repos"].records) == 3
    assert [m.record_id for m in pages["repos"].media] == ["1"]
    assert ctx.account["login"] == "octocat"
    assert [n for n in ctx.notes if n.startswith(NOT_OWNED_NOTE)] == [
        f"{NOT_OWNED_NOTE}; 2 repositories owned by others are listed without their code."
    ]


# --- the Platform row ------------------------------------------------------------------------------
def test_the_migration_turns_github_files_on_and_back_off(platforms):
    from django.apps import apps

    from platforms.models import Platform

    migration = importlib.import_module("platforms.migrations.0003_github_files")
    migration.enable_files(apps, None)
    github = Platform.objects.get(slug="github")
    assert github.supports_media is True
    assert github.media_kinds == ["file"]
    assert {"zip", "txt", "md", "py", "js", "json"} <= set(github.file_formats)
    assert github.max_file_size_mb == 1024
    assert {"codeload.github.com", "gist.githubusercontent.com"} <= set(github.media_hosts)
    assert len(github.media_hosts) == len(set(github.media_hosts))

    migration.disable_files(apps, None)
    github.refresh_from_db()
    assert github.supports_media is False
    assert github.file_formats == []
    assert github.media_kinds == []


# --- against the in-process sandbox ----------------------------------------------------------------
def test_the_sandbox_zipball_redirects_to_a_real_zip_on_its_media_host(sandbox, platforms, make_user, connect):
    from accounts.tokens import token_for

    user = make_user("gina")
    connect(user, "github")
    token = token_for(user, platforms["github"])
    base = f"{sandbox.base_url}/github"

    response = requests.get(
        f"{base}/repos/gina/project-001/zipball",
        headers={"Authorization": f"Bearer {token}"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert urlsplit(location).netloc == urlsplit(sandbox.base_url).netloc
    assert urlsplit(location).path.startswith("/github/media/")
    assert location.endswith(".zip")

    # The media host, like codeload, needs no token.
    archive = requests.get(location, timeout=10)
    assert archive.status_code == 200
    assert archive.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        assert z.testzip() is None
        assert any(name.endswith("README.md") for name in z.namelist())


def test_the_sandbox_zipball_needs_the_token_and_a_visible_repository(sandbox):
    base = f"{sandbox.base_url}/github"
    anonymous = requests.get(f"{base}/repos/gina/project-001/zipball", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "Bad credentials"

    auth = {"Authorization": f"Bearer {mint_token('github', 'gina')}"}
    hidden = requests.get(f"{base}/repos/stranger/project-001/zipball", headers=auth, allow_redirects=False, timeout=10)
    assert hidden.status_code == 404


def test_every_archive_the_sandbox_lists_redirects_to_a_zip(github, sandbox):
    base = f"{sandbox.base_url}/github"
    auth = {"Authorization": f"Bearer {mint_token('github', 'gina')}"}
    body = requests.get(f"{base}/user/repos", params={"per_page": 100}, headers=auth, timeout=10).json()
    items = github.parse("repos", body).media
    assert items and len(items) == len([r for r in body if not r["fork"]])
    for item in items:
        assert item.url.startswith(f"{base}/repos/gina/")
        response = requests.get(item.url, headers=auth, allow_redirects=False, timeout=10)
        assert response.status_code == 302, item.url
        assert response.headers["Location"].endswith(".zip")
