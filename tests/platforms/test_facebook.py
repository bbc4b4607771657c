import json

import pytest
import requests
import responses
from responses import matchers

from platforms.base import ExtractorError, FetchContext
from platforms.client import ApiClient, guarded_session
from platforms.facebook.extractor import FacebookExtractor
from platforms.facebook.sandbox import top_fields
from platforms.registry import get_extractor
from platforms.sandbox.auth import mint_token

BASE = "https://graph.facebook.com"
FEED = "facebook/page_feed_attachments_p1.json"
ALBUM = "facebook/post_album_subattachments.json"


@pytest.fixture
def fb():
    return FacebookExtractor()


def photo_node(photo_id="501", images=None, **fields):
    """A Photo node as /me/photos?fields=id,images,album,name,created_time returns it."""
    return {
        "id": photo_id,
        "created_time": "2024-03-01T10:00:00+0000",
        "name": "At the lake",
        "album": {"id": "900", "name": "Summer"},
        "images": images
        if images is not None
        else [
            {"height": 720, "width": 960, "source": f"https://scontent.xx.fbcdn.net/v/{photo_id}_n_960.jpg?oh=1"},
            {"height": 1536, "width": 2048, "source": f"https://scontent.xx.fbcdn.net/v/{photo_id}_o.jpg?oh=2"},
            {"height": 130, "width": 173, "source": f"https://scontent.xx.fbcdn.net/v/{photo_id}_s.jpg?oh=3"},
        ],
        **fields,
    }


def video_node(video_id="701", **fields):
    return {
        "id": video_id,
        "created_time": "2024-04-02T08:30:00+0000",
        "description": "Sunset timelapse",
        "length": 12.5,
        "source": f"https://video.xx.fbcdn.net/v/{video_id}_n.mp4?oh=9",
        "picture": f"https://scontent.xx.fbcdn.net/v/{video_id}_pic.jpg",
        **fields,
    }


def post_with(attachment, post_id="100_200"):
    return {
        "id": post_id,
        "created_time": "2024-03-01T10:05:00+0000",
        "message": "Lake day",
        "attachments": {"data": [attachment]},
    }


def photo_attachment(photo_id="501"):
    return {
        "media_type": "photo",
        "type": "photo",
        "media": {"image": {"height": 540, "width": 720, "src": f"https://scontent.xx.fbcdn.net/v/{photo_id}_720.jpg"}},
        "target": {"id": photo_id, "url": f"https://www.facebook.com/photo.php?fbid={photo_id}"},
    }


def test_registry_gives_the_facebook_extractor():
    extractor = get_extractor("facebook")
    assert isinstance(extractor, FacebookExtractor)
    assert extractor.resources == ("posts", "photos", "videos")


def test_photo_attachments_become_images_keyed_by_the_photo_id(fb, sample):
    page = fb.parse("posts", sample(FEED))

    assert len(page.records) == 5
    photos = [m for m in page.media if m.kind == "image" and not m.media_id.endswith("_thumb")]
    assert [m.media_id for m in photos] == ["10158349355013553", "10158345714153553", "10158343840368553"]
    first = photos[0]
    assert first.record_id == "19292868552_10158349356748553"
    assert first.url.startswith("https://scontent-ssn1-1.xx.fbcdn.net/v/t1.6435-9/p720x720/211801276_")
    assert first.timestamp == "2021-07-09T19:09:52Z"
    assert first.caption.startswith("Singaporean logistics company")
    assert first.extra == {"attachment_type": "photo", "width": 720, "height": 720}
    assert [m.ext for m in photos] == ["jpg", "png", "png"]


def test_a_shared_link_brings_no_media_but_keeps_its_post(fb, sample):
    page = fb.parse("posts", sample(FEED))

    shared = "19292868552_10158347294088553"
    assert shared in [r["id"] for r in page.records]
    assert not [m for m in page.media if m.record_id == shared]


def test_a_video_attachment_gives_its_poster_under_the_video_id(fb, sample):
    page = fb.parse("posts", sample(FEED))

    video_post = [m for m in page.media if m.record_id == "19292868552_10158333323653553"]
    assert [(m.media_id, m.kind) for m in video_post] == [("1192957457884299_thumb", "image")]


def test_a_video_attachment_with_a_source_gives_the_video_and_its_poster(fb):
    attachment = {
        "media_type": "video",
        "type": "video_inline",
        "media": {
            "image": {"height": 720, "width": 1280, "src": "https://scontent.xx.fbcdn.net/v/701_poster.jpg"},
            "source": "https://video.xx.fbcdn.net/v/701_n.mp4?oh=9",
        },
        "target": {"id": "701"},
    }
    page = fb.parse("posts", {"data": [post_with(attachment)]})

    assert [(m.media_id, m.kind, m.ext) for m in page.media] == [("701", "video", "mp4"), ("701_thumb", "image", "jpg")]


def test_every_album_subattachment_is_kept_in_order(fb, sample):
    body = sample(ALBUM)
    page = fb.parse("posts", body)

    # A single Post node is one record.
    assert [r["id"] for r in page.records] == ["565225540184937_4018908568149933"]
    expected = [s["target"]["id"] for s in body["attachments"]["data"][0]["subattachments"]["data"]]
    assert len(expected) == 7
    assert [m.media_id for m in page.media] == expected
    assert {m.record_id for m in page.media} == {"565225540184937_4018908568149933"}
    assert page.media[0].url.startswith("https://scontent.xx.fbcdn.net/v/t1.0-9/s720x720/87047458_")
    assert page.next is None


def test_uploaded_photo_takes_the_largest_rendition(fb):
    page = fb.parse("photos", {"data": [photo_node("501")]})

    [item] = page.media
    assert item.url == "https://scontent.xx.fbcdn.net/v/501_o.jpg?oh=2"
    assert item.media_id == "501"
    assert item.record_id == "501"
    assert item.caption == "At the lake"
    assert item.timestamp == "2024-03-01T10:00:00Z"
    assert item.extra == {"width": 2048, "height": 1536, "album_id": "900", "album_name": "Summer"}


def test_largest_means_the_largest_area_not_the_widest(fb):
    images = [
        {"width": 2000, "height": 100, "source": "https://scontent.xx.fbcdn.net/v/wide.jpg"},
        {"width": 1200, "height": 1200, "source": "https://scontent.xx.fbcdn.net/v/square.jpg"},
    ]
    page = fb.parse("photos", {"data": [photo_node("502", images=images)]})

    assert page.media[0].url.endswith("/square.jpg")


def test_the_same_photo_from_a_post_and_from_photos_has_one_media_id(fb):
    from_post = fb.parse("posts", {"data": [post_with(photo_attachment("501"))]}).media
    from_photos = fb.parse("photos", {"data": [photo_node("501")]}).media

    assert [m.media_id for m in from_post] == [m.media_id for m in from_photos] == ["501"]
    assert from_post[0].record_id == "100_200"
    assert from_photos[0].record_id == "501"


def test_a_photo_attached_twice_is_listed_once_for_its_post(fb):
    post = post_with(photo_attachment("501"))
    post["attachments"]["data"].append(photo_attachment("501"))

    page = fb.parse("posts", {"data": [post]})

    assert [m.media_id for m in page.media] == ["501"]


def test_uploaded_video_gives_the_video_and_its_picture(fb):
    page = fb.parse("videos", {"data": [video_node("701")]})

    assert [(m.media_id, m.kind, m.ext) for m in page.media] == [("701", "video", "mp4"), ("701_thumb", "image", "jpg")]
    video = page.media[0]
    assert video.caption == "Sunset timelapse"
    assert video.timestamp == "2024-04-02T08:30:00Z"
    assert video.extra == {"duration_s": 12.5}


def test_uploaded_video_poster_prefers_the_largest_thumbnail(fb):
    thumbnails = {
        "data": [
            {"uri": "https://scontent.xx.fbcdn.net/v/small.jpg", "width": 320, "height": 180, "is_preferred": True},
            {"uri": "https://scontent.xx.fbcdn.net/v/large.jpg", "width": 1280, "height": 720, "is_preferred": False},
        ]
    }
    page = fb.parse("videos", {"data": [video_node("702", thumbnails=thumbnails)]})

    poster = page.media[1]
    assert poster.url == "https://scontent.xx.fbcdn.net/v/large.jpg"
    assert poster.extra == {"width": 1280, "height": 720}


def test_next_is_the_full_paging_url_and_none_on_the_last_page(fb, sample):
    first = fb.parse("posts", sample(FEED))
    last = fb.parse("posts", {"data": [post_with(photo_attachment())], "paging": {"cursors": {"after": "x"}}})

    assert first.next == sample(FEED)["paging"]["next"]
    assert last.next is None


def test_a_bad_record_is_skipped_and_the_rest_kept(fb):
    broken_attachments = {"id": "100_300", "created_time": "2024-01-01T00:00:00+0000", "attachments": "oops"}
    body = {"data": [{"message": "no id"}, broken_attachments, "not an object", post_with(photo_attachment())]}

    page = fb.parse("posts", body)

    assert [r["id"] for r in page.records] == ["100_200"]
    assert [s["record_id"] for s in page.skipped] == ["#0", "100_300", "#2"]
    assert all(s["reason"] for s in page.skipped)


@pytest.mark.parametrize("body", [[], "<html>", None, {"data": "nope"}, {"paging": {}}])
def test_an_unreadable_body_raises(fb, body):
    with pytest.raises(ExtractorError) as caught:
        fb.parse("posts", body)
    assert "Facebook" in caught.value.message


def test_an_error_body_passed_to_parse_raises_its_meaning(fb):
    with pytest.raises(ExtractorError) as caught:
        fb.parse(
            "posts", {"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}
        )
    assert caught.value.code == "unauthorized"


def test_code_190_asks_to_reconnect(fb):
    body = {
        "error": {
            "message": "Error validating access token: Session has expired on Tuesday, 05-Mar-24.",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 463,
            "fbtrace_id": "A1b2",
        }
    }
    error = fb.error_for(400, body, {})

    assert error.message == "Facebook says the token expired: reconnect your Facebook account"
    assert error.code == "unauthorized"
    assert error.retryable is False


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
def test_rate_limit_codes_are_retryable(fb, code):
    body = {"error": {"message": "(#17) User request limit reached", "type": "OAuthException", "code": code}}
    error = fb.error_for(403, body, {})

    assert error.retryable is True
    assert error.code == "rate_limited"


def test_missing_permission_says_what_to_do(fb):
    body = {"error": {"message": "(#200) Missing permissions", "type": "OAuthException", "code": 200}}
    error = fb.error_for(403, body, {})

    assert error.code == "forbidden"
    assert not error.retryable
    assert "Reconnect your Facebook account" in error.message


def test_a_transient_error_is_retryable(fb):
    body = {"error": {"message": "An unknown error occurred", "code": 1, "is_transient": True}}
    assert fb.error_for(500, body, {}).retryable is True


def test_a_body_that_is_not_a_graph_error_is_left_to_the_client(fb):
    assert fb.error_for(502, "<html>Bad gateway</html>", {}) is None


def test_wait_seconds_stays_zero_while_usage_is_low(fb):
    headers = {"X-App-Usage": json.dumps({"call_count": 20, "total_time": 10, "total_cputime": 5})}
    assert fb.wait_seconds(headers) == 0


def test_wait_seconds_grows_as_usage_approaches_the_limit(fb):
    def wait(percent):
        return fb.wait_seconds(
            {"x-app-usage": json.dumps({"call_count": percent, "total_time": 1, "total_cputime": 1})}
        )

    assert 0 < wait(80) < wait(95) < wait(100)
    assert wait(100) == 60


def test_wait_seconds_follows_the_business_use_case_regain_estimate(fb):
    usage = {
        "1234": [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 40,
                "total_time": 30,
                "estimated_time_to_regain_access": 3,
            }
        ]
    }
    assert fb.wait_seconds({"X-Business-Use-Case-Usage": json.dumps(usage)}) == 180


def test_wait_seconds_ignores_a_header_it_cannot_read(fb):
    assert fb.wait_seconds({"X-App-Usage": "not json"}) == 0


def test_first_request_asks_for_uploaded_photos_with_their_renditions(fb):
    req = fb.request("photos", None, FetchContext())

    assert req.url == "/v21.0/me/photos"
    assert req.params["type"] == "uploaded"
    assert set(req.params["fields"].split(",")) >= {"id", "images", "name", "created_time"}
    assert "album" in req.params["fields"]


def test_posts_request_asks_for_subattachments(fb):
    req = fb.request("posts", None, FetchContext())

    assert req.url == "/v21.0/me/posts"
    assert "subattachments" in req.params["fields"]


def test_a_paging_url_is_requested_as_it_is(fb):
    url = "https://graph.facebook.com/v21.0/me/posts?limit=25&after=QVFI"
    req = fb.request("posts", url, FetchContext())

    assert req.url == url
    assert req.params == {}


def test_record_timestamp_is_utc_with_z(fb, sample):
    post = sample(FEED)["data"][0]
    assert fb.record_timestamp("posts", post) == "2021-07-09T19:09:52Z"


@responses.activate
def test_pages_walks_every_resource_and_follows_paging_urls(fb):
    second_posts = f"{BASE}/v21.0/me/posts?limit=25&after=AAA"
    responses.add(responses.GET, f"{BASE}/v21.0/me", json={"id": "100", "name": "Demo Person"})
    responses.add(
        responses.GET,
        f"{BASE}/v21.0/me/photos",
        json={"data": [photo_node("501"), photo_node("502")]},
        headers={"X-App-Usage": json.dumps({"call_count": 90, "total_time": 1, "total_cputime": 1})},
    )
    responses.add(responses.GET, f"{BASE}/v21.0/me/videos", json={"data": [video_node("701")]})
    responses.add(
        responses.GET,
        f"{BASE}/v21.0/me/posts",
        match=[matchers.query_param_matcher({"limit": "25", "after": "AAA"})],
        json={"data": [post_with(photo_attachment("502"), "100_2")]},
    )
    responses.add(
        responses.GET,
        f"{BASE}/v21.0/me/posts",
        json={"data": [post_with(photo_attachment("501"), "100_1")], "paging": {"next": second_posts}},
    )
    pauses = []
    client = ApiClient(fb, base_url=BASE, token="t", session=requests.Session(), sleep=pauses.append)
    ctx = FetchContext()

    pages = list(fb.pages(client, ctx))

    assert [resource for resource, _ in pages] == ["photos", "videos", "posts", "posts"]
    assert ctx.account == {"id": "100", "name": "Demo Person"}
    records = {res: [r["id"] for name, p in pages if name == res for r in p.records] for res in fb.resources}
    assert records == {"posts": ["100_1", "100_2"], "photos": ["501", "502"], "videos": ["701"]}
    media_ids = [m.media_id for _, p in pages for m in p.media]
    assert media_ids == ["501", "502", "701", "701_thumb", "501", "502"]
    # The photo seen first comes with its full-size rendition.
    assert pages[0][1].media[0].url.endswith("501_o.jpg?oh=2")
    assert responses.calls[0].request.headers["Authorization"] == "Bearer t"
    assert any(p > 0 for p in pauses)  # 90% of the hourly budget used: slowed down


# --- against the live sandbox ---------------------------------------------------------------------


def _live_client(fb, server, user="demo", sleep=None):
    return ApiClient(
        fb,
        base_url=f"{server.base_url}/facebook",
        token=mint_token("facebook", user),
        sleep=sleep or (lambda s: None),
    )


def test_pages_reads_posts_photos_and_videos_from_the_sandbox(fb, live_sandbox):
    server = live_sandbox()
    ctx = FetchContext()

    pages = list(fb.pages(_live_client(fb, server), ctx))

    assert ctx.account["name"] == "Demo Example"
    records = {res: [r for name, p in pages if name == res for r in p.records] for res in fb.resources}
    assert {res: len(rs) for res, rs in records.items()} == {"posts": 60, "photos": 60, "videos": 60}
    assert len([p for name, p in pages if name == "posts"]) == 3  # 60 at Facebook's 25 a page
    assert all(not p.skipped for _, p in pages)

    media = [m for _, p in pages for m in p.media]
    assert all(m.url.startswith(f"{server.base_url}/facebook/media/") for m in media)
    uploads = {m.media_id: m for name, p in pages if name in ("photos", "videos") for m in p.media}
    post_media = [m for name, p in pages if name == "posts" for m in p.media]
    # Every photo or poster in a post is one of the uploads, under the same media id.
    assert post_media and {m.media_id for m in post_media} <= set(uploads)
    photos_in_posts = [m for m in post_media if m.kind == "image" and not m.media_id.endswith("_thumb")]
    # Uploads come first, so the file is first seen at full size, not the post's 720 pixels.
    assert photos_in_posts and all(uploads[m.media_id].url.endswith("w=1280&h=960") for m in photos_in_posts)

    album = next(r for r in records["posts"] if r.get("attachments", {}).get("data", [{}])[0].get("type") == "album")
    parts = album["attachments"]["data"][0]["subattachments"]["data"]
    assert [m.media_id for m in post_media if m.record_id == album["id"]] == [p["target"]["id"] for p in parts]
    assert len(parts) > 1
    video = next(m for m in media if m.kind == "video")
    assert uploads[f"{video.media_id}_thumb"].extra == {"width": 1280, "height": 720}


def test_sandbox_answers_carry_app_usage_and_a_busy_app_slows_down(fb, live_sandbox):
    server = live_sandbox(records=3)
    response = requests.get(
        f"{server.base_url}/facebook/v21.0/me",
        headers={"Authorization": f"Bearer {mint_token('facebook', 'demo')}"},
        timeout=5,
    )
    assert set(json.loads(response.headers["X-App-Usage"])) == {"call_count", "total_cputime", "total_time"}

    pauses = []
    list(fb.pages(_live_client(fb, server, user="demo-throttled", sleep=pauses.append), FetchContext()))

    assert len(pauses) == 3 and all(p > 0 for p in pauses)


def test_sandbox_media_are_real_files(fb, live_sandbox):
    server = live_sandbox(records=3)
    media = [m for _, p in fb.pages(_live_client(fb, server), FetchContext()) for m in p.media]
    session = guarded_session()

    for ext, magic in (("jpg", b"\xff\xd8\xff"), ("mp4", b"ftyp")):
        item = next(m for m in media if m.ext == ext)
        response = session.get(item.url, timeout=30)
        assert response.status_code == 200
        assert magic in response.content[:12]


def test_the_sandbox_answers_only_the_fields_asked_for(live_sandbox):
    server = live_sandbox(records=2)
    headers = {"Authorization": f"Bearer {mint_token('facebook', 'demo')}"}

    bare = requests.get(f"{server.base_url}/facebook/v21.0/me/posts", headers=headers, timeout=5).json()
    tagged = requests.get(f"{server.base_url}/facebook/v21.0/me/photos", headers=headers, timeout=5).json()

    assert set(bare["data"][0]) <= {"id", "created_time", "message", "story"}
    assert tagged == {"data": []}  # without type=uploaded: photos the user is tagged in
    assert top_fields("id,attachments{media,subattachments},reactions.limit(0).summary(true)") == [
        "id",
        "attachments",
        "reactions",
    ]


def test_a_token_the_sandbox_did_not_issue_asks_to_reconnect(fb, live_sandbox):
    server = live_sandbox()
    client = ApiClient(fb, base_url=f"{server.base_url}/facebook", token="made-up", sleep=lambda s: None)

    with pytest.raises(ExtractorError) as caught:
        list(fb.pages(client, FetchContext()))
    assert caught.value.message == "Facebook says the token expired: reconnect your Facebook account"
