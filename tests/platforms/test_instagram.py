import json

import pytest
import requests
import responses
from responses import matchers

from platforms.base import ExtractorError, FetchContext
from platforms.client import ApiClient, guarded_session
from platforms.instagram.extractor import InstagramExtractor
from platforms.instagram.sandbox import PAST_EXPIRY
from platforms.instagram.sandbox import Sandbox as InstagramSandbox
from platforms.registry import get_extractor
from platforms.sandbox.auth import mint_token
from platforms.sandbox.core import SandboxConfig, SbRequest

BASE = "https://graph.instagram.com"
CAROUSEL = "instagram/ig_user_media_carousel_with_video_child.json"
IMAGES = "instagram/ig_user_media_images_p1.json"
CDN = "https://scontent.cdninstagram.com/v/t51.29350-15"


@pytest.fixture
def ig():
    return InstagramExtractor()


def video_post(media_id="18000000000000001", **fields):
    """An IG Media node of type VIDEO as /me/media?fields=...,thumbnail_url returns it."""
    return {
        "id": media_id,
        "caption": "Waves #sea",
        "media_type": "VIDEO",
        "media_product_type": "REELS",
        "media_url": f"https://video.cdninstagram.com/v/t50.2886-16/{media_id}_n.mp4?oe=6123D60C",
        "thumbnail_url": f"{CDN}/{media_id}_thumb_n.jpg?oe=6123D60C",
        "permalink": "https://www.instagram.com/reel/C0ffee/",
        "timestamp": "2024-05-01T12:00:00+0000",
        **fields,
    }


def image_post(media_id="18000000000000002", **fields):
    return {
        "id": media_id,
        "caption": "Breakfast",
        "media_type": "IMAGE",
        "media_url": f"{CDN}/{media_id}_n.jpg?oe=6123D60C",
        "permalink": "https://www.instagram.com/p/B4k3d/",
        "timestamp": "2024-05-02T07:30:00+0000",
        **fields,
    }


def test_registry_gives_the_instagram_extractor():
    extractor = get_extractor("instagram")
    assert isinstance(extractor, InstagramExtractor)
    assert extractor.resources == ("media", "stories")


def test_a_carousel_gives_every_child_and_a_video_child_also_its_poster(ig, sample):
    body = sample(CAROUSEL)
    page = ig.parse("media", body)

    album = body["data"][0]
    children = album["children"]["data"]
    album_media = [m for m in page.media if m.record_id == album["id"]]
    assert [(m.media_id, m.kind, m.ext) for m in album_media] == [
        (children[0]["id"], "image", "jpg"),
        (children[1]["id"], "image", "jpg"),
        (children[2]["id"], "video", "mp4"),
        (children[2]["id"] + "_thumb", "image", "jpg"),
    ]
    assert album_media[2].url == children[2]["media_url"]
    assert album_media[3].url == children[2]["thumbnail_url"]
    assert all(m.caption == "ALBUM" for m in album_media)
    assert album_media[0].timestamp == "2021-07-26T10:45:19Z"
    assert album_media[2].extra["position"] == 2
    assert album_media[2].extra["carousel_id"] == album["id"]


def test_an_image_post_is_one_image_under_its_own_id(ig, sample):
    page = ig.parse("media", sample(CAROUSEL))

    single = page.media[-1]
    assert (single.media_id, single.record_id, single.kind) == ("17893085207160254", "17893085207160254", "image")
    assert single.caption == "Peach new"
    assert single.timestamp == "2021-06-09T09:47:29Z"


def test_a_video_post_gives_the_video_and_its_thumbnail(ig):
    page = ig.parse("media", {"data": [video_post("18000000000000001")]})

    assert [(m.media_id, m.kind, m.ext) for m in page.media] == [
        ("18000000000000001", "video", "mp4"),
        ("18000000000000001_thumb", "image", "jpg"),
    ]
    assert page.media[0].caption == "Waves #sea"


def test_a_carousel_without_children_keeps_its_cover(ig):
    album = image_post("18000000000000003", media_type="CAROUSEL_ALBUM")
    page = ig.parse("media", {"data": [album]})

    assert [(m.media_id, m.kind) for m in page.media] == [("18000000000000003", "image")]


def test_media_withheld_for_copyright_brings_no_file_but_keeps_the_record(ig):
    withheld = image_post("18000000000000004")
    del withheld["media_url"]
    page = ig.parse("media", {"data": [withheld]})

    assert [r["id"] for r in page.records] == ["18000000000000004"]
    assert page.media == []


def test_story_media_ids_start_with_story(ig):
    body = {"data": [image_post("18000000000000010"), video_post("18000000000000011")]}
    page = ig.parse("stories", body)

    assert [m.media_id for m in page.media] == [
        "story_18000000000000010",
        "story_18000000000000011",
        "story_18000000000000011_thumb",
    ]
    assert page.media[0].record_id == "18000000000000010"


def test_next_is_the_full_paging_url_and_none_on_the_last_page(ig, sample):
    first = ig.parse("media", sample(IMAGES))
    last = ig.parse("media", sample(CAROUSEL))

    assert first.next == sample(IMAGES)["paging"]["next"]
    assert last.next is None  # only `previous` there


def test_a_bad_record_is_skipped_and_the_rest_kept(ig):
    broken = image_post("18000000000000005", media_type="CAROUSEL_ALBUM", children={"data": ["not an object"]})
    body = {"data": [{"caption": "no id"}, broken, image_post("18000000000000006")]}

    page = ig.parse("media", body)

    assert [r["id"] for r in page.records] == ["18000000000000006"]
    assert [s["record_id"] for s in page.skipped] == ["#0", "18000000000000005"]


@pytest.mark.parametrize("body", [[], "oops", {"data": {"id": "1"}}, {"paging": {}}])
def test_an_unreadable_body_raises(ig, body):
    with pytest.raises(ExtractorError) as caught:
        ig.parse("media", body)
    assert "Instagram" in caught.value.message


def test_code_190_asks_to_reconnect_instagram(ig):
    body = {"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}
    error = ig.error_for(400, body, {})

    assert error.message == "Instagram says the token expired: reconnect your Instagram account"
    assert error.code == "unauthorized"


def test_application_rate_limit_is_retryable(ig):
    body = {"error": {"message": "Application request limit reached", "type": "OAuthException", "code": 4}}
    error = ig.error_for(403, body, {})

    assert (error.retryable, error.code) == (True, "rate_limited")


def test_wait_seconds_reads_the_usage_header(ig):
    headers = {"X-App-Usage": json.dumps({"call_count": 99, "total_time": 3, "total_cputime": 3})}
    assert ig.wait_seconds(headers) > 0


def test_requests_ask_for_children_and_follow_paging_urls(ig):
    first = ig.request("media", None, FetchContext())
    assert first.url == "/v21.0/me/media"
    assert "children{" in first.params["fields"]
    assert "thumbnail_url" in first.params["fields"]

    url = "https://graph.instagram.com/v21.0/me/media?limit=25&after=QVFI"
    assert ig.request("media", url, FetchContext()) == type(first)(url=url)


def test_stories_are_not_requested_where_the_account_has_none(ig):
    ctx = FetchContext(state={"stories_allowed": False})
    assert ig.request("stories", None, ctx) is None


def profile(account_type="BUSINESS"):
    return {"id": "17841400000000001", "username": "demo", "account_type": account_type, "media_count": 3}


@responses.activate
def test_pages_reads_the_profile_media_pages_and_stories(ig):
    next_url = f"{BASE}/v21.0/me/media?limit=25&after=AAA"
    responses.add(responses.GET, f"{BASE}/v21.0/me", json=profile())
    responses.add(
        responses.GET,
        f"{BASE}/v21.0/me/media",
        match=[matchers.query_param_matcher({"limit": "25", "after": "AAA"})],
        json={"data": [video_post("18000000000000001")]},
    )
    responses.add(
        responses.GET,
        f"{BASE}/v21.0/me/media",
        json={"data": [image_post("18000000000000002")], "paging": {"next": next_url}},
    )
    responses.add(responses.GET, f"{BASE}/v21.0/me/stories", json={"data": [image_post("18000000000000010")]})
    client = ApiClient(ig, base_url=BASE, token="t", session=requests.Session(), sleep=lambda s: None)
    ctx = FetchContext()

    pages = list(ig.pages(client, ctx))

    assert [resource for resource, _ in pages] == ["media", "media", "stories"]
    assert ctx.account == profile()
    assert ctx.notes == []
    assert [m.media_id for _, p in pages for m in p.media] == [
        "18000000000000002",
        "18000000000000001",
        "18000000000000001_thumb",
        "story_18000000000000010",
    ]


@responses.activate
def test_an_account_without_stories_gets_a_note_instead(ig):
    responses.add(responses.GET, f"{BASE}/v21.0/me", json=profile("PERSONAL"))
    responses.add(responses.GET, f"{BASE}/v21.0/me/media", json={"data": [image_post()]})
    client = ApiClient(ig, base_url=BASE, token="t", session=requests.Session(), sleep=lambda s: None)
    ctx = FetchContext()

    pages = list(ig.pages(client, ctx))

    assert [resource for resource, _ in pages] == ["media"]
    assert len(ctx.notes) == 1
    assert "stories" in ctx.notes[0]
    assert not [c for c in responses.calls if "/stories" in c.request.url]


@responses.activate
def test_refresh_media_url_asks_the_media_object_again(ig):
    fresh = {
        "id": "18000000000000001",
        "media_type": "VIDEO",
        "media_url": "https://video.cdninstagram.com/v/fresh.mp4?oe=7FFFFFFF",
        "thumbnail_url": f"{CDN}/fresh_thumb.jpg?oe=7FFFFFFF",
    }
    responses.add(responses.GET, f"{BASE}/v21.0/18000000000000001", json=fresh)
    client = ApiClient(ig, base_url=BASE, token="t", session=requests.Session(), sleep=lambda s: None)

    assert ig.refresh_media_url(client, "18000000000000001", "18000000000000001") == fresh["media_url"]
    assert ig.refresh_media_url(client, "18000000000000001_thumb", "18000000000000001") == fresh["thumbnail_url"]
    assert ig.refresh_media_url(client, "story_18000000000000001", "18000000000000001") == fresh["media_url"]
    assert "media_url" in responses.calls[0].request.params["fields"]


@responses.activate
def test_refresh_media_url_gives_none_for_media_that_is_gone(ig):
    gone = {
        "error": {
            "message": "Unsupported get request. Object with ID '18000000000000009' does not exist",
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
        }
    }
    responses.add(responses.GET, f"{BASE}/v21.0/18000000000000009", json=gone, status=400)
    client = ApiClient(ig, base_url=BASE, token="t", session=requests.Session(), sleep=lambda s: None)

    assert ig.refresh_media_url(client, "story_18000000000000009", "18000000000000009") is None


@responses.activate
def test_refresh_media_url_lets_an_expired_token_through(ig):
    expired = {"error": {"message": "Session has expired", "type": "OAuthException", "code": 190}}
    responses.add(responses.GET, f"{BASE}/v21.0/18000000000000001", json=expired, status=400)
    client = ApiClient(ig, base_url=BASE, token="t", session=requests.Session(), sleep=lambda s: None)

    with pytest.raises(ExtractorError) as caught:
        ig.refresh_media_url(client, "18000000000000001", "18000000000000001")
    assert caught.value.code == "unauthorized"


# --- against the live sandbox ---------------------------------------------------------------------


def _live_client(ig, server, user="demo"):
    return ApiClient(
        ig, base_url=f"{server.base_url}/instagram", token=mint_token("instagram", user), sleep=lambda s: None
    )


def test_pages_reads_profile_media_and_stories_from_the_sandbox(ig, live_sandbox):
    server = live_sandbox()
    ctx = FetchContext()

    pages = list(ig.pages(_live_client(ig, server), ctx))

    assert ctx.account["username"] == "demo" and ctx.account["account_type"] == "BUSINESS"
    assert ctx.notes == []
    media_records = [r for name, p in pages if name == "media" for r in p.records]
    stories = [r for name, p in pages if name == "stories" for r in p.records]
    assert len(media_records) == 60 == ctx.account["media_count"]
    assert len({r["id"] for r in media_records}) == 60
    assert stories
    assert all(not p.skipped for _, p in pages)
    assert len([p for name, p in pages if name == "media"]) == 3  # 60 at Instagram's 25 a page

    media = [m for _, p in pages for m in p.media]
    ids = [m.media_id for m in media]
    assert len(ids) == len(set(ids))
    assert all(m.url.startswith(f"{server.base_url}/instagram/media/") and "oe=" in m.url for m in media)
    carousel = next(r for r in media_records if r["media_type"] == "CAROUSEL_ALBUM")
    children = carousel["children"]["data"]
    carousel_media = [m.media_id for m in media if m.record_id == carousel["id"]]
    expected = []
    for child in children:
        expected.append(child["id"])
        if child["media_type"] == "VIDEO":
            expected.append(child["id"] + "_thumb")
    assert carousel_media == expected and any(c["media_type"] == "VIDEO" for c in children)
    story_media = [m for m in media if m.record_id in {s["id"] for s in stories}]
    assert story_media and all(m.media_id.startswith("story_") for m in story_media)
    assert {m.kind for m in story_media} == {"image", "video"}


def test_an_expired_media_url_answers_403_and_a_refreshed_one_works(ig, live_sandbox):
    server = live_sandbox(records=12)
    client = _live_client(ig, server)
    media = [m for _, p in ig.pages(client, FetchContext()) for m in p.media]
    expired = [m for m in media if f"oe={PAST_EXPIRY:x}" in m.url]
    assert expired
    session = guarded_session()

    for item in expired:
        assert session.get(item.url, timeout=30).status_code == 403
        fresh = ig.refresh_media_url(client, item.media_id, item.record_id)
        assert fresh and fresh != item.url
        response = session.get(fresh, timeout=30)
        assert response.status_code == 200
        magic = b"ftyp" if item.kind == "video" else b"\xff\xd8\xff"
        assert magic in response.content[:12]


def test_the_sandbox_cdn_refuses_a_url_past_its_expiry_or_with_a_bad_signature():
    sandbox = InstagramSandbox(SandboxConfig())
    name = "ig-17900000000000000.jpg"

    def answer(**query):
        req = SbRequest("GET", f"/media/{name}", {k: str(v) for k, v in query.items()}, {}, b"", base_url="")
        return sandbox.media_response(req, name)

    past, future = f"{PAST_EXPIRY:x}", "7fffffff"
    assert answer(oe=past, oh=sandbox.signature(name, past)).status == 403
    assert answer(oe=future, oh="0" * 32).status == 403
    assert answer(oe=future, oh=sandbox.signature(name, future)) is None
    assert answer() is None


def test_a_personal_account_gets_a_note_and_no_stories_call(ig, live_sandbox):
    server = live_sandbox(records=3)
    ctx = FetchContext()

    pages = list(ig.pages(_live_client(ig, server, user="demo-personal"), ctx))

    assert {name for name, _ in pages} == {"media"}
    assert ctx.account["account_type"] == "PERSONAL"
    assert "stories" in ctx.notes[0]
    stats = requests.get(f"{server.base_url}/_stats", timeout=5).json()["requests"]
    assert not [path for path in stats if path.endswith("/stories")]


def test_a_token_the_sandbox_did_not_issue_asks_to_reconnect(ig, live_sandbox):
    server = live_sandbox()
    client = ApiClient(ig, base_url=f"{server.base_url}/instagram", token="made-up", sleep=lambda s: None)

    with pytest.raises(ExtractorError) as caught:
        list(ig.pages(client, FetchContext()))
    assert caught.value.message == "Instagram says the token expired: reconnect your Instagram account"
