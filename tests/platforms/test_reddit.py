import copy
import json
import time

import pytest
import requests
import responses

from platforms.base import ExtractorError, FetchContext, Request
from platforms.client import ApiClient, guarded_session
from platforms.registry import get_extractor
from platforms.sandbox.auth import mint_token

BASE = "https://oauth.reddit.com"


@pytest.fixture
def reddit():
    return get_extractor("reddit")


@pytest.fixture
def thread_post(sample):
    """The t3 thing of a recorded /comments/{id} answer, as a user listing would carry it."""

    def load(name):
        return copy.deepcopy(sample(f"reddit/{name}")[0]["data"]["children"][0])

    return load


def listing(*children, after=None):
    return {
        "kind": "Listing",
        "data": {"after": after, "before": None, "dist": len(children), "children": list(children)},
    }


def link_post(id36, **fields):
    """A t3 thing in the shape Reddit's listings document, with only the fields a test needs."""
    data = {
        "id": id36,
        "name": f"t3_{id36}",
        "title": f"post {id36}",
        "subreddit": "pics",
        "created_utc": 1700000000.0,
        "is_self": False,
        "url": f"https://www.reddit.com/r/pics/comments/{id36}/x/",
        "secure_media": None,
        "media": None,
    }
    data.update(fields)
    return {"kind": "t3", "data": data}


def escaped(value):
    """What Reddit sends without raw_json=1: every `&` in a string written as `&amp;`."""
    if isinstance(value, dict):
        return {k: escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escaped(v) for v in value]
    if isinstance(value, str):
        return value.replace("&", "&amp;")
    return value


# --- records and paging -------------------------------------------------------------------------


def test_records_are_the_things_data_with_their_kind(reddit, sample):
    page = reddit.parse("comments", sample("reddit/user_comments_listing.json"))

    assert len(page.records) == 100
    first = page.records[0]
    assert first["kind"] == "t1"
    assert first["author"] == "spez"
    assert reddit.record_id("comments", first) == first["name"]
    assert reddit.record_id("comments", first).startswith("t1_")


def test_next_is_the_listings_after_cursor(reddit, sample):
    page = reddit.parse("submitted", sample("reddit/user_submitted_listing.json"))

    assert page.next == "t3_21oo"
    assert len(page.records) == 100


def test_next_is_none_on_the_last_page(reddit, thread_post):
    page = reddit.parse("submitted", listing(thread_post("submission_image_with_comments.json")))

    assert page.next is None


def test_record_timestamp_is_created_utc_in_iso_utc(reddit, thread_post):
    record = reddit.parse("submitted", listing(thread_post("submission_image_with_comments.json"))).records[0]

    assert reddit.record_timestamp("submitted", record) == "2023-10-01T19:55:12Z"


def test_a_bad_record_is_skipped_and_the_rest_kept(reddit, thread_post):
    body = listing(
        thread_post("submission_image_with_comments.json"),
        {"kind": "t3", "data": "removed"},
        link_post("bad1", gallery_data={"items": [{"media_id": "m1"}]}, media_metadata=["m1"]),
        link_post("ok2"),
    )

    page = reddit.parse("submitted", body)

    assert [r["name"] for r in page.records] == ["t3_16xb0aa", "t3_ok2"]
    assert len(page.skipped) == 2
    assert page.skipped[1]["record_id"] == "t3_bad1"
    assert all(s["reason"] for s in page.skipped)


@pytest.mark.parametrize(
    "body",
    [
        None,
        "<html>Our CDN was unable to reach our servers</html>",
        {"kind": "Listing", "data": {"after": None}},
        {"message": "Forbidden", "error": 403},
        [1, 2],
    ],
)
def test_an_unreadable_body_raises_an_extractor_error(reddit, body):
    with pytest.raises(ExtractorError) as caught:
        reddit.parse("saved", body)

    assert "Reddit" in caught.value.message


def test_a_thread_answer_gives_its_post_and_no_next(reddit, sample):
    page = reddit.parse("submitted", sample("reddit/submission_gallery_with_comments.json"))

    assert [r["name"] for r in page.records] == ["t3_huw6vs"]
    assert page.next is None


# --- media ----------------------------------------------------------------------------------------


def test_gallery_items_keep_their_order_with_their_originals_and_captions(reddit, thread_post):
    post = thread_post("submission_gallery_with_comments.json")
    metadata = post["data"]["media_metadata"]

    page = reddit.parse("submitted", listing(post))

    assert [m.media_id for m in page.media] == ["pb7qsvi6i3c51", "14wmudl6i3c51", "vkm62gm6i3c51", "wka18en6i3c51"]
    assert page.media[0].url == metadata["pb7qsvi6i3c51"]["s"]["u"]
    assert page.media[1].caption == "test.jpg"
    assert page.media[3].caption == "test.png"
    assert [m.ext for m in page.media] == ["png", "jpg", "gif", "png"]
    assert {m.record_id for m in page.media} == {"t3_huw6vs"}
    assert all(m.timestamp == "2020-07-20T23:18:55Z" for m in page.media)


def test_an_animated_gallery_item_is_its_original_gif(reddit, thread_post):
    page = reddit.parse("submitted", listing(thread_post("submission_gallery_with_comments.json")))

    gif = page.media[2]
    assert gif.url == "https://i.redd.it/vkm62gm6i3c51.gif"
    assert gif.kind == "image"
    assert gif.extra["outbound_url"] == "https://example.com"


def test_gallery_reversed_in_gallery_data_is_emitted_reversed(reddit, thread_post):
    post = thread_post("submission_gallery_with_comments.json")
    post["data"]["gallery_data"]["items"].reverse()

    page = reddit.parse("submitted", listing(post))

    assert [m.media_id for m in page.media] == ["wka18en6i3c51", "vkm62gm6i3c51", "14wmudl6i3c51", "pb7qsvi6i3c51"]


def test_html_entities_in_urls_are_decoded(reddit, thread_post):
    raw = thread_post("submission_gallery_with_comments.json")
    post = copy.deepcopy(raw)
    post["data"] = escaped(post["data"])
    assert "&amp;" in post["data"]["media_metadata"]["pb7qsvi6i3c51"]["s"]["u"]

    page = reddit.parse("submitted", listing(post))

    expected = raw["data"]["media_metadata"]["pb7qsvi6i3c51"]["s"]["u"]
    assert page.media[0].url == expected
    assert all("&amp;" not in m.url for m in page.media)


def test_reddit_video_is_its_fallback_mp4_with_the_playlists(reddit, thread_post):
    page = reddit.parse("submitted", listing(thread_post("submission_video_with_comments.json")))

    assert len(page.media) == 1
    video = page.media[0]
    assert video.url == "https://v.redd.it/5ph4906syw261/DASH_240.mp4?source=fallback"
    assert video.kind == "video"
    assert video.ext == "mp4"
    assert video.media_id == "k5rsq3_video"
    assert video.record_id == "t3_k5rsq3"
    assert video.extra["dash_url"].startswith("https://v.redd.it/5ph4906syw261/DASHPlaylist.mpd")
    assert video.extra["hls_url"].startswith("https://v.redd.it/5ph4906syw261/HLSPlaylist.m3u8")
    assert "has_audio" in video.extra


def test_reddit_video_is_read_from_media_when_secure_media_is_missing(reddit, thread_post):
    post = thread_post("submission_video_with_comments.json")
    post["data"]["secure_media"] = None
    post["data"]["media"]["reddit_video"]["has_audio"] = True

    video = reddit.parse("submitted", listing(post)).media[0]

    assert video.url.startswith("https://v.redd.it/5ph4906syw261/DASH_240.mp4")
    assert video.extra["has_audio"] is True


def test_an_i_redd_it_image_post_is_its_image_and_not_its_preview(reddit, thread_post):
    page = reddit.parse("submitted", listing(thread_post("submission_image_with_comments.json")))

    assert [(m.url, m.kind, m.ext) for m in page.media] == [("https://i.redd.it/7z48j742cnrb1.gif", "image", "gif")]
    assert page.media[0].caption == "Test Title 2"


def test_preview_is_the_fallback_when_a_link_has_no_other_media(reddit):
    post = link_post(
        "lnk1",
        url="https://example.com/article",
        post_hint="link",
        preview={
            "images": [
                {
                    "source": {
                        "url": "https://external-preview.redd.it/abc.jpg?auto=webp&amp;s=123",
                        "width": 640,
                        "height": 480,
                    },
                    "resolutions": [],
                }
            ],
            "enabled": False,
        },
    )

    page = reddit.parse("submitted", listing(post))

    assert [(m.url, m.media_id, m.kind, m.ext) for m in page.media] == [
        ("https://external-preview.redd.it/abc.jpg?auto=webp&s=123", "lnk1_preview", "image", "jpg")
    ]
    assert page.media[0].extra == {"width": 640, "height": 480}


def test_a_self_post_without_preview_has_no_media(reddit):
    page = reddit.parse("submitted", listing(link_post("self1", is_self=True, selftext="hello")))

    assert page.media == []
    assert len(page.records) == 1


def test_imgur_gifv_becomes_its_mp4(reddit):
    post = link_post("img1", url="https://i.imgur.com/AbCd123.gifv", domain="i.imgur.com", post_hint="link")

    page = reddit.parse("submitted", listing(post))

    assert [(m.url, m.kind, m.ext, m.media_id) for m in page.media] == [
        ("https://i.imgur.com/AbCd123.mp4", "video", "mp4", "img1_video")
    ]


def test_imgur_direct_image_is_taken_and_an_album_page_falls_back_to_preview(reddit):
    direct = link_post("img2", url="https://imgur.com/XyZ.JPG", domain="imgur.com")
    album = link_post(
        "img3",
        url="https://imgur.com/a/album1",
        domain="imgur.com",
        preview={"images": [{"source": {"url": "https://external-preview.redd.it/album.png?format=png8&s=1"}}]},
    )

    page = reddit.parse("submitted", listing(direct, album))

    assert [(m.url, m.ext, m.record_id) for m in page.media] == [
        ("https://i.imgur.com/XyZ.JPG", "jpg", "t3_img2"),
        ("https://external-preview.redd.it/album.png?format=png8&s=1", "png", "t3_img3"),
    ]


def test_a_crosspost_is_followed_to_the_originals_media(reddit, thread_post):
    original = thread_post("submission_video_with_comments.json")["data"]
    crosspost = link_post(
        "xp1",
        title="look at this",
        url="/r/test/comments/k5rsq3/test_title_0/",
        crosspost_parent="t3_k5rsq3",
        crosspost_parent_list=[original],
    )

    page = reddit.parse("saved", listing(crosspost))

    assert len(page.media) == 1
    video = page.media[0]
    assert video.url == "https://v.redd.it/5ph4906syw261/DASH_240.mp4?source=fallback"
    assert video.record_id == "t3_xp1"
    # The file is the original's, so the original and the crosspost share one media id.
    assert video.media_id == "k5rsq3_video"
    assert video.caption == "look at this"


def test_a_crosspost_of_a_gallery_gives_every_item(reddit, thread_post):
    original = thread_post("submission_gallery_with_comments.json")["data"]
    crosspost = link_post("xp2", crosspost_parent_list=[original])

    page = reddit.parse("submitted", listing(crosspost))

    assert [m.media_id for m in page.media] == ["pb7qsvi6i3c51", "14wmudl6i3c51", "vkm62gm6i3c51", "wka18en6i3c51"]
    assert {m.record_id for m in page.media} == {"t3_xp2"}


def test_images_inside_a_comment_are_its_media(reddit):
    comment = {
        "kind": "t1",
        "data": {
            "id": "c1",
            "name": "t1_c1",
            "body": "see ![img](abc123)",
            "created_utc": 1700000000,
            "media_metadata": {
                "abc123": {
                    "status": "valid",
                    "e": "Image",
                    "m": "image/jpeg",
                    "s": {"u": "https://preview.redd.it/abc123.jpeg?width=640&amp;format=pjpg&amp;s=9", "x": 640},
                    "id": "abc123",
                }
            },
        },
    }

    page = reddit.parse("comments", listing(comment))

    assert [(m.media_id, m.record_id, m.ext) for m in page.media] == [("abc123", "t1_c1", "jpg")]
    assert page.media[0].url == "https://preview.redd.it/abc123.jpeg?width=640&format=pjpg&s=9"


def test_no_media_item_is_emitted_twice_for_one_record(reddit, thread_post):
    post = thread_post("submission_gallery_with_comments.json")
    items = post["data"]["gallery_data"]["items"]
    items.append(dict(items[0]))

    page = reddit.parse("submitted", listing(post))

    ids = [m.media_id for m in page.media]
    assert len(ids) == len(set(ids)) == 4


def test_media_ids_are_unique_across_a_page(reddit, thread_post):
    body = listing(
        thread_post("submission_gallery_with_comments.json"),
        thread_post("submission_video_with_comments.json"),
        thread_post("submission_image_with_comments.json"),
    )

    page = reddit.parse("submitted", body)

    ids = [m.media_id for m in page.media]
    assert len(ids) == len(set(ids)) == 6
    assert all(m.ext and m.ext == m.ext.lower() and "." not in m.ext for m in page.media)


# --- requests, limits and errors ------------------------------------------------------------------


def test_requests_page_the_users_listings(reddit):
    ctx = FetchContext(state={"name": "spez"})

    first = reddit.request("submitted", None, ctx)
    later = reddit.request("saved", "t3_abc", ctx)

    assert first.url == "/user/spez/submitted"
    assert first.params == {"limit": 100, "raw_json": 1}
    assert later.url == "/user/spez/saved"
    assert later.params["after"] == "t3_abc"
    assert reddit.request("comments", None, ctx).url == "/user/spez/comments"


def test_auth_headers_carry_a_descriptive_user_agent(reddit):
    headers = reddit.auth_headers("tok")

    assert headers["Authorization"] == "Bearer tok"
    assert "starexport" in headers["User-Agent"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "42", "X-Ratelimit-Used": "600"}, 43),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "7.5"}, 8.5),
        ({"X-Ratelimit-Remaining": "12.0", "X-Ratelimit-Reset": "300"}, 0),
        ({}, 0),
        ({"X-Ratelimit-Remaining": "soon", "X-Ratelimit-Reset": "300"}, 0),
    ],
)
def test_rate_limit_headers_give_the_wait(reddit, headers, expected):
    assert reddit.wait_seconds(headers) == pytest.approx(expected)


def test_401_asks_to_reconnect(reddit):
    error = reddit.error_for(401, {"message": "Unauthorized", "error": 401}, {})

    assert error.code == "unauthorized"
    assert "reconnect your reddit account" in error.message.lower()
    assert not error.retryable


def test_429_is_retryable(reddit):
    error = reddit.error_for(429, {"message": "Too Many Requests", "error": 429}, {"x-ratelimit-reset": "30"})

    assert error.retryable
    assert error.code == "rate_limited"


def test_403_and_5xx_say_what_to_do(reddit):
    forbidden = reddit.error_for(403, {"message": "Forbidden", "error": 403}, {})
    busy = reddit.error_for(503, "<html>all of our servers are busy</html>", {})

    assert forbidden.code == "forbidden" and not forbidden.retryable
    assert "reconnect" in forbidden.message.lower()
    assert busy.retryable


# --- end to end through the API client ------------------------------------------------------------


def _client(reddit):
    return ApiClient(reddit, base_url=BASE, token="t", session=requests.Session(), sleep=lambda s: None)


@responses.activate
def test_pages_reads_every_listing_through_the_client(reddit, thread_post):
    responses.get(f"{BASE}/api/v1/me", json={"name": "demo", "id": "u1", "created_utc": 1500000000.0})
    responses.get(
        f"{BASE}/user/demo/submitted",
        json=listing(thread_post("submission_gallery_with_comments.json"), after="t3_huw6vs"),
        match=[responses.matchers.query_param_matcher({"limit": "100", "raw_json": "1"})],
        headers={"X-Ratelimit-Remaining": "599.0", "X-Ratelimit-Reset": "100"},
    )
    responses.get(
        f"{BASE}/user/demo/submitted",
        json=listing(thread_post("submission_video_with_comments.json")),
        match=[responses.matchers.query_param_matcher({"limit": "100", "raw_json": "1", "after": "t3_huw6vs"})],
    )
    responses.get(f"{BASE}/user/demo/comments", json=listing())
    responses.get(f"{BASE}/user/demo/saved", json=listing(thread_post("submission_image_with_comments.json")))
    ctx = FetchContext()

    pages = list(reddit.pages(_client(reddit), ctx))

    assert [resource for resource, _ in pages] == ["submitted", "submitted", "comments", "saved"]
    records = [r["name"] for _, page in pages for r in page.records]
    assert records == ["t3_huw6vs", "t3_k5rsq3", "t3_16xb0aa"]
    assert len([m for _, page in pages for m in page.media]) == 6
    assert ctx.state["name"] == "demo"
    assert ctx.account["id"] == "u1"
    assert any("1,000" in note for note in ctx.notes)
    sent = responses.calls[1].request
    assert sent.headers["Authorization"] == "Bearer t"
    assert "starexport" in sent.headers["User-Agent"]


@responses.activate
def test_a_listing_at_reddits_limit_is_noted(reddit):
    responses.get(f"{BASE}/api/v1/me", json={"name": "demo"})
    for n in range(10):
        after = f"t3_p{n}99" if n < 9 else None
        children = [link_post(f"p{n}{i:02d}") for i in range(100)]
        matcher = {"limit": "100", "raw_json": "1", **({"after": f"t3_p{n - 1}99"} if n else {})}
        responses.get(
            f"{BASE}/user/demo/submitted",
            json=listing(*children, after=after),
            match=[responses.matchers.query_param_matcher(matcher)],
        )
    ctx = FetchContext()
    client = _client(reddit)
    reddit.prepare(client, ctx)

    pages = list(reddit.resource_pages(client, ctx, "submitted"))

    assert sum(len(p.records) for _, p in pages) == 1000
    assert any("submitted" in note and "1,000" in note for note in ctx.notes)


@responses.activate
def test_an_expired_token_fails_with_reconnect(reddit):
    responses.get(f"{BASE}/api/v1/me", status=401, json={"message": "Unauthorized", "error": 401})

    with pytest.raises(ExtractorError) as caught:
        list(reddit.pages(_client(reddit), FetchContext()))

    assert caught.value.code == "unauthorized"


@responses.activate
def test_rate_limit_headers_pause_the_client(reddit):
    slept = []
    responses.get(
        f"{BASE}/user/demo/saved",
        json=listing(),
        headers={"X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "5", "X-Ratelimit-Used": "600"},
    )
    client = ApiClient(reddit, base_url=BASE, token="t", session=requests.Session(), sleep=slept.append)
    started = time.monotonic()

    list(reddit.resource_pages(client, FetchContext(state={"name": "demo"}), "saved"))

    assert slept == [6.0]
    assert time.monotonic() - started < 5


def test_request_body_of_a_real_page_is_json_serialisable(reddit, sample):
    page = reddit.parse("submitted", sample("reddit/user_submitted_listing.json"))

    json.dumps(page.records)
    assert isinstance(reddit.request("submitted", "t3_21oo", FetchContext(state={"name": "a"})), Request)


# --- against the live sandbox ---------------------------------------------------------------------


def _live_client(reddit, server, token=None):
    return ApiClient(
        reddit,
        base_url=f"{server.base_url}/reddit",
        token=token or mint_token("reddit", "demo"),
        sleep=lambda s: None,
    )


def test_pages_reads_every_listing_from_the_sandbox(reddit, live_sandbox):
    server = live_sandbox()
    ctx = FetchContext()

    pages = list(reddit.pages(_live_client(reddit, server), ctx))

    by_resource = {}
    for resource, page in pages:
        assert not page.skipped
        by_resource.setdefault(resource, []).append(page)
    # 60 records a resource at Reddit's default page of 25: three pages each.
    assert {r: len(p) for r, p in by_resource.items()} == {"submitted": 3, "comments": 3, "saved": 3}
    records = {r: [rec for page in p for rec in page.records] for r, p in by_resource.items()}
    assert {r: len(v) for r, v in records.items()} == {"submitted": 60, "comments": 60, "saved": 60}
    assert {rec["kind"] for rec in records["saved"]} == {"t1", "t3"}
    assert ctx.account["name"] == "demo"
    assert any("1,000" in note for note in ctx.notes)

    media = [m for _, page in pages for m in page.media]
    media_base = f"{server.base_url}/reddit/media/"
    assert media and all(m.url.startswith(media_base) for m in media)
    assert {m.kind for m in media} == {"image", "video"}
    assert all(m.timestamp and m.timestamp.endswith("Z") for m in media)
    pairs = [(m.record_id, m.media_id) for m in media]
    assert len(pairs) == len(set(pairs))

    gallery = next(r for r in records["submitted"] if r.get("is_gallery"))
    order = [item["media_id"] for item in gallery["gallery_data"]["items"]]
    assert [m.media_id for m in media if m.record_id == gallery["name"]] == order

    video = next(m for m in media if m.media_id.endswith("_video"))
    assert video.ext == "mp4" and video.extra["dash_url"] and video.extra["has_audio"] is False

    crosspost = next(r for r in records["submitted"] if r.get("crosspost_parent_list"))
    shared = [m for m in media if m.record_id == crosspost["name"]]
    assert [m.kind for m in shared] == ["video"]
    assert shared[0].media_id == crosspost["crosspost_parent_list"][0]["id"] + "_video"

    stats = requests.get(f"{server.base_url}/_stats", timeout=5).json()["requests"]
    assert stats["/reddit/user/demo/submitted"] == 3
    assert stats["/reddit/api/v1/me"] == 1


def test_sandbox_media_are_real_files(reddit, live_sandbox):
    server = live_sandbox(records=8)
    session = guarded_session()
    pages = list(reddit.pages(_live_client(reddit, server), FetchContext()))
    media = [m for resource, page in pages if resource == "submitted" for m in page.media]
    first = {}
    for item in media:
        first.setdefault(item.ext, item)

    magic = {"jpg": b"\xff\xd8\xff", "png": b"\x89PNG", "gif": b"GIF8", "mp4": b"ftyp"}
    assert set(first) == set(magic)
    for ext, item in first.items():
        response = session.get(item.url, timeout=30)
        assert response.status_code == 200, item.url
        assert magic[ext] in response.content[:12]


def test_answers_without_raw_json_are_decoded_to_the_same_urls(reddit, live_sandbox):
    server = live_sandbox(records=8)
    session = guarded_session()
    url = f"{server.base_url}/reddit/user/demo/submitted"
    headers = reddit.auth_headers(mint_token("reddit", "demo"))

    escaped_body = session.get(url, params={"limit": 100}, headers=headers, timeout=10).json()
    raw_body = session.get(url, params={"limit": 100, "raw_json": 1}, headers=headers, timeout=10).json()

    assert "&amp;" in json.dumps(escaped_body)
    escaped_urls = [m.url for m in reddit.parse("submitted", escaped_body).media]
    assert escaped_urls == [m.url for m in reddit.parse("submitted", raw_body).media]
    assert escaped_urls and not any("&amp;" in u for u in escaped_urls)


def test_rate_limited_answers_are_retried_and_nothing_is_lost(reddit, live_sandbox):
    server = live_sandbox(fault_429_every=3, retry_after=0, truncate_rate=0.2)
    client = _live_client(reddit, server)

    pages = list(reddit.pages(client, FetchContext()))

    assert sum(len(page.records) for _, page in pages) == 180
    stats = requests.get(f"{server.base_url}/_stats", timeout=5).json()
    assert stats["requests_total"] > 10


def test_a_token_the_sandbox_did_not_issue_asks_to_reconnect(reddit, live_sandbox):
    server = live_sandbox()

    with pytest.raises(ExtractorError) as caught:
        list(reddit.pages(_live_client(reddit, server, token="not-a-real-token"), FetchContext()))

    assert caught.value.code == "unauthorized"


def test_a_listing_longer_than_reddits_cap_stops_at_1000(reddit, live_sandbox):
    server = live_sandbox(records=1005, page_size=100)
    client = _live_client(reddit, server)
    ctx = FetchContext()
    reddit.prepare(client, ctx)

    pages = list(reddit.resource_pages(client, ctx, "comments"))

    assert sum(len(page.records) for _, page in pages) == 1000
    assert pages[-1][1].next is None
    assert any("comments" in note and "1,000" in note for note in ctx.notes)
