import pytest
import requests
import responses

from platforms.base import ExtractorError, FetchContext
from platforms.client import ApiClient
from platforms.registry import get_extractor

API = "https://api.github.com"


@pytest.fixture
def github():
    return get_extractor("github")


def test_the_user_profile_is_one_record(github, sample):
    page = github.parse("user", sample("github/user_docs_example.json"))
    assert len(page.records) == 1
    assert page.records[0]["login"] == "octocat"
    assert page.next is None


def test_a_2013_profile_without_node_id_still_parses(github, sample):
    page = github.parse("user", sample("github/user_octokit_rb_cassette.json"))
    assert page.records[0]["login"]


def test_repositories_are_kept_as_github_returned_them(github, sample):
    body = sample("github/user_repos_octokit_rb_cassette.json")
    page = github.parse("repos", body)
    assert page.records == body
    assert github.record_timestamp("repos", page.records[0]).endswith("Z")


def test_starred_keeps_the_star_json_wrapper_and_its_date(github, sample):
    body = sample("github/starred_star_json_docs_example.json")
    page = github.parse("starred", body)
    record = page.records[0]
    assert set(record) == {"starred_at", "repo"}
    assert github.record_id("starred", record) == str(record["repo"]["id"])
    assert github.record_timestamp("starred", record) == "2011-01-16T19:06:43Z"


def test_gists_keep_their_files_map(github, sample):
    page = github.parse("gists", sample("github/gists_docs_example.json"))
    assert "hello_world.rb" in page.records[0]["files"]


def test_next_page_comes_from_the_link_header_only(github, sample):
    body = sample("github/user_repos_docs_example.json")
    link = (
        '<https://api.github.com/user/repos?page=2&per_page=100>; rel="next", '
        '<https://api.github.com/user/repos?page=5&per_page=100>; rel="last"'
    )
    assert github.parse("repos", body, {"Link": link}).next == "https://api.github.com/user/repos?page=2&per_page=100"
    assert github.parse("repos", body).next is None
    last = '<https://api.github.com/user/repos?page=1&per_page=100>; rel="first"'
    assert github.parse("repos", body, {"link": last}).next is None


def test_an_item_without_an_id_is_skipped_not_fatal(github, sample):
    body = [*sample("github/user_repos_docs_example.json"), {"name": "broken"}, "not an object"]
    page = github.parse("repos", body)
    assert len(page.records) == 1
    assert len(page.skipped) == 2


def test_an_error_body_in_place_of_a_list_raises_a_clear_error(github):
    with pytest.raises(ExtractorError, match="Bad credentials"):
        github.parse("repos", {"message": "Bad credentials"})


def test_rate_limit_exhausted_means_waiting_until_reset(github):
    import time

    reset = int(time.time()) + 30
    assert 29 <= github.wait_seconds({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}) <= 32
    assert github.wait_seconds({"X-RateLimit-Remaining": "10", "X-RateLimit-Reset": str(reset)}) == 0


@responses.activate
def test_pages_follow_link_pagination_through_every_resource(github, sample, settings):
    user = sample("github/user_docs_example.json")
    repos = sample("github/user_repos_docs_example.json")
    responses.get(f"{API}/user", json=user)
    page2 = f"{API}/user/repos?per_page=100&page=2"
    responses.get(
        f"{API}/user/repos?per_page=100&page=2",
        json=repos,
        match=[responses.matchers.query_param_matcher({"per_page": "100", "page": "2"})],
    )
    responses.get(
        f"{API}/user/repos",
        json=repos,
        headers={"Link": f'<{page2}>; rel="next"'},
        match=[responses.matchers.query_param_matcher({"per_page": "100", "sort": "created", "direction": "desc"})],
    )
    responses.get(f"{API}/user/starred", json=sample("github/starred_star_json_docs_example.json"))
    responses.get(f"{API}/gists", json=sample("github/gists_docs_example.json"))
    client = ApiClient(github, base_url=API, token="t", session=requests.Session(), sleep=lambda s: None)
    pages = list(github.pages(client, FetchContext()))
    assert [r for r, _ in pages] == ["user", "repos", "repos", "starred", "gists"]
    starred_call = next(c for c in responses.calls if c.request.url.startswith(f"{API}/user/starred"))
    assert starred_call.request.headers["Accept"] == "application/vnd.github.star+json"
    assert starred_call.request.headers["Authorization"] == "Bearer t"
