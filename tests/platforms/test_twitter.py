import time

import pytest
import requests
import responses

from platforms.base import ExtractorError, FetchContext
from platforms.client import ApiClient, guarded_session
from platforms.registry import get_extractor
from platforms.sandbox.auth import mint_token

BASE = "https://api.twitter.com"


@pytest.fixture
def twitter():
    return get_extractor("twitter")


def tweet(tweet_id, created_at="2024-03-01T12:00:00.000Z", media_keys=(), text=None):
    """A post in the shape GET /2/users/:id/tweets documents for the fields we ask for."""
    data = {
        "id": tweet_id,
        "text": text or f"post {tweet_id}",
        "created_at": created_at,
        "edit_history_tweet_ids": [tweet_id],
        "lang": "en",
        "conversation_id": tweet_id,
        "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 1, "quote_count": 0},
    }
    if media_keys:
        data["attachments"] = {"media_keys": list(media_keys)}
    return data


def photo(key, url=None, **fields):
    return {
        "media_key": key,
        "type": "photo",
        "url": url or f"https://pbs.twimg.com/media/{key}.jpg",
        "width": 2048,
        "height": 1536,
        **fields,
    }


def animated_gif(key):
    return {
        "media_key": key,
        "type": "animated_gif",
        "preview_image_url": f"https://pbs.twimg.com/tweet_video_thumb/{key}.jpg",
        "width": 498,
        "height": 280,
        "variants": [
            {"bit_rate": 0, "content_type": "video/mp4", "url": f"https://video.twimg.com/tweet_video/{key}.mp4"}
        ],
    }


def timeline(tweets, media=(), next_token=None):
    meta = {"result_count": len(tweets)}
    if tweets:
        meta.update(newest_id=tweets[0]["id"], oldest_id=tweets[-1]["id"])
    if next_token:
        meta["next_token"] = next_token
    body = {"data": tweets, "meta": meta}
    if media:
        body["includes"] = {"media": list(media)}
    return body


# --- records and paging -------------------------------------------------------------------------


def test_records_are_the_posts_and_next_is_meta_next_token(twitter, sample):
    page = twitter.parse("tweets", sample("twitter/users_tweets_default_fields_tweepy.json"))

    assert [r["id"] for r in page.records] == ["1577730467436138524", "1565318587736285184"]
    assert page.next == "7140dibdnow9c7btw4232poeq0wapgnwgwqwvuwn3peex"
    assert page.media == []
    assert twitter.record_id("tweets", page.records[0]) == "1577730467436138524"


def test_next_is_none_on_the_last_page(twitter):
    page = twitter.parse("tweets", timeline([tweet("1")]))

    assert page.next is None


def test_an_empty_timeline_is_an_empty_last_page(twitter):
    page = twitter.parse("tweets", {"meta": {"result_count": 0}})

    assert page.records == [] and page.next is None


def test_a_post_carries_its_joined_media_objects(twitter, sample):
    body = sample("twitter/tweet_lookup_video_variants_twarc.json")

    page = twitter.parse("tweets", body)

    record = page.records[0]
    assert record["media"] == body["includes"]["media"]
    assert record["media"][0]["media_key"] == "7_1558552952549277696"
    assert twitter.record_timestamp("tweets", record) == "2022-08-13T20:36:51Z"


def test_a_bad_record_is_skipped_and_the_rest_kept(twitter):
    body = timeline([tweet("1"), {"text": "no id"}, "junk", tweet("4")])

    page = twitter.parse("tweets", body)

    assert [r["id"] for r in page.records] == ["1", "4"]
    assert len(page.skipped) == 2
    assert all(set(s) == {"record_id", "reason"} for s in page.skipped)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "<html>Over capacity</html>",
        {"data": {"id": "1"}, "meta": {}},
        {"errors": [{"title": "Not Found Error", "detail": "Could not find user with id: [1]."}]},
    ],
)
def test_an_unreadable_body_raises_an_extractor_error(twitter, body):
    with pytest.raises(ExtractorError) as caught:
        twitter.parse("tweets", body)

    assert "X" in caught.value.message


def test_an_error_only_body_says_what_x_said(twitter):
    with pytest.raises(ExtractorError, match="Could not find user"):
        twitter.parse(
            "tweets", {"errors": [{"title": "Not Found Error", "detail": "Could not find user with id: [1]."}]}
        )


# --- media ----------------------------------------------------------------------------------------


def test_the_highest_bitrate_mp4_is_chosen_over_m3u8_and_lower_bitrates(twitter, sample):
    page = twitter.parse("tweets", sample("twitter/tweet_lookup_video_variants_twarc.json"))

    video = next(m for m in page.media if m.kind == "video")
    assert (
        video.url
        == "https://video.twimg.com/ext_tw_video/1558552952549277696/pu/vid/1280x720/WiZrNZKT2lMzK5zA.mp4?tag=12"
    )
    assert video.media_id == "7_1558552952549277696"
    assert video.ext == "mp4"
    assert video.record_id == "1558553189766631429"
    assert video.timestamp == "2022-08-13T20:36:51Z"
    assert video.extra["width"] == 1280 and video.extra["height"] == 720
    assert video.extra["duration_ms"] == 71292


def test_a_video_also_gives_its_preview_image(twitter, sample):
    page = twitter.parse("tweets", sample("twitter/tweet_lookup_video_variants_twarc.json"))

    assert [m.media_id for m in page.media] == ["7_1558552952549277696", "7_1558552952549277696_preview"]
    preview = page.media[1]
    assert preview.kind == "image"
    assert preview.ext == "jpg"
    assert preview.url == (
        "https://pbs.twimg.com/ext_tw_video_thumb/1558552952549277696/pu/img/7VaQu-AvReI8RHkv.jpg?name=orig"
    )


def test_the_best_variant_wins_whatever_the_order(twitter):
    media = {
        "media_key": "7_9",
        "type": "video",
        "preview_image_url": "https://pbs.twimg.com/amplify_video_thumb/9/img/p.jpg",
        "variants": [
            {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/amplify_video/9/pl/a.m3u8"},
            {"bit_rate": 10368000, "content_type": "video/mp4", "url": "https://video.twimg.com/v/1920x1080/best.mp4"},
            {"bit_rate": 632000, "content_type": "video/mp4", "url": "https://video.twimg.com/v/320x180/low.mp4"},
        ],
    }

    page = twitter.parse("tweets", timeline([tweet("1", media_keys=["7_9"])], [media]))

    assert page.media[0].url == "https://video.twimg.com/v/1920x1080/best.mp4"
    assert page.media[0].extra["bit_rate"] == 10368000


def test_a_photo_is_taken_at_original_quality(twitter):
    body = timeline(
        [tweet("1", media_keys=["3_1", "3_2", "3_3"])],
        [
            photo("3_1", alt_text="a cat on a mat"),
            photo("3_2", url="https://pbs.twimg.com/media/Second.PNG?name=small"),
            photo("3_3", url="https://pbs.twimg.com/media/Third?format=webp&name=900x900"),
        ],
    )

    page = twitter.parse("tweets", body)

    assert [(m.url, m.ext, m.kind) for m in page.media] == [
        ("https://pbs.twimg.com/media/3_1.jpg?name=orig", "jpg", "image"),
        ("https://pbs.twimg.com/media/Second.PNG?name=orig", "png", "image"),
        ("https://pbs.twimg.com/media/Third?format=webp&name=orig", "webp", "image"),
    ]
    assert page.media[0].extra["alt_text"] == "a cat on a mat"
    assert page.media[0].extra["width"] == 2048
    assert page.media[0].caption == "post 1"


def test_media_keep_the_posts_attachment_order(twitter):
    body = timeline([tweet("1", media_keys=["3_b", "3_a"])], [photo("3_a"), photo("3_b")])

    page = twitter.parse("tweets", body)

    assert [m.media_id for m in page.media] == ["3_b", "3_a"]
    assert [m["media_key"] for m in page.records[0]["media"]] == ["3_b", "3_a"]


def test_an_animated_gif_is_its_mp4_and_its_preview(twitter):
    page = twitter.parse("tweets", timeline([tweet("1", media_keys=["16_5"])], [animated_gif("16_5")]))

    assert [(m.media_id, m.kind, m.ext) for m in page.media] == [
        ("16_5", "video", "mp4"),
        ("16_5_preview", "image", "jpg"),
    ]
    assert page.media[0].url == "https://video.twimg.com/tweet_video/16_5.mp4"


def test_media_shared_by_two_posts_is_emitted_once_per_post(twitter):
    body = timeline(
        [tweet("1", media_keys=["3_1", "3_1"]), tweet("2", media_keys=["3_1"])],
        [photo("3_1")],
    )

    page = twitter.parse("tweets", body)

    assert [(m.media_id, m.record_id) for m in page.media] == [("3_1", "1"), ("3_1", "2")]


def test_a_media_key_missing_from_includes_does_not_lose_the_post(twitter):
    page = twitter.parse("tweets", timeline([tweet("1", media_keys=["3_gone"])]))

    assert page.records[0]["media"] == []
    assert page.media == []


# --- requests, limits and errors ------------------------------------------------------------------


def test_requests_page_the_users_timeline_with_media_fields(twitter):
    ctx = FetchContext(state={"user_id": "42"})

    first = twitter.request("tweets", None, ctx)
    later = twitter.request("tweets", "tok2", ctx)

    assert first.url == "/2/users/42/tweets"
    assert first.params["max_results"] == 100
    assert first.params["expansions"] == "attachments.media_keys"
    assert "variants" in first.params["media.fields"].split(",")
    assert "created_at" in first.params["tweet.fields"].split(",")
    assert "pagination_token" not in first.params
    assert later.params["pagination_token"] == "tok2"


@pytest.mark.parametrize(
    ("remaining", "reset_in", "expected"),
    [("0", 30, 31), ("5", 30, 0), ("0", -10, 1)],
)
def test_rate_limit_headers_give_the_wait(twitter, remaining, reset_in, expected):
    headers = {
        "x-rate-limit-limit": "900",
        "x-rate-limit-remaining": remaining,
        "x-rate-limit-reset": str(int(time.time()) + reset_in),
    }

    assert twitter.wait_seconds(headers) == pytest.approx(expected, abs=1.5)


def test_no_rate_limit_headers_means_no_wait(twitter):
    assert twitter.wait_seconds({}) == 0
    assert twitter.wait_seconds({"X-Rate-Limit-Remaining": "x"}) == 0


def test_401_asks_to_reconnect(twitter):
    body = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}

    error = twitter.error_for(401, body, {})

    assert error.code == "unauthorized"
    assert "reconnect your x account" in error.message.lower()
    assert not error.retryable


def test_429_is_retryable(twitter):
    body = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}

    error = twitter.error_for(429, body, {"x-rate-limit-reset": str(int(time.time()) + 60)})

    assert error.retryable
    assert error.code == "rate_limited"
    assert "UTC" in error.message


def test_403_for_an_app_without_v2_access_names_the_cause(twitter):
    body = {
        "client_id": "123",
        "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens "
        "from a Twitter developer App that is attached to a Project.",
        "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
        "title": "Client Forbidden",
        "required_enrollment": "Appropriate Level of API Access",
        "reason": "client-not-enrolled",
        "type": "https://api.twitter.com/2/problems/client-forbidden",
    }

    error = twitter.error_for(403, body, {})

    assert error.code == "forbidden"
    assert "Project" in error.message


# --- end to end through the API client ------------------------------------------------------------


def _client(twitter, **kwargs):
    return ApiClient(twitter, base_url=BASE, token="t", session=requests.Session(), sleep=lambda s: None, **kwargs)


@responses.activate
def test_pages_reads_the_whole_timeline_and_notes_how_far_back(twitter, sample):
    responses.get(f"{BASE}/2/users/me", json={"data": {"id": "42", "name": "Demo", "username": "demo"}})
    responses.get(
        f"{BASE}/2/users/42/tweets",
        json=timeline(
            [tweet("3", "2024-03-03T00:00:00.000Z", ["3_1"]), tweet("2", "2024-03-02T00:00:00.000Z")],
            [photo("3_1")],
            next_token="p2",
        ),
        match=[responses.matchers.query_param_matcher({"max_results": "100"}, strict_match=False)],
        headers={"x-rate-limit-remaining": "899", "x-rate-limit-reset": str(int(time.time()) + 900)},
    )
    responses.get(
        f"{BASE}/2/users/42/tweets",
        json=timeline([tweet("1", "2021-01-01T08:00:00.000Z", ["16_1"])], [animated_gif("16_1")]),
        match=[responses.matchers.query_param_matcher({"pagination_token": "p2"}, strict_match=False)],
    )
    ctx = FetchContext()

    pages = list(twitter.pages(_client(twitter), ctx))

    assert [r["id"] for _, page in pages for r in page.records] == ["3", "2", "1"]
    assert [m.media_id for _, page in pages for m in page.media] == ["3_1", "16_1", "16_1_preview"]
    assert ctx.state["user_id"] == "42"
    assert ctx.account["username"] == "demo"
    assert ctx.state["reached_back_to"] == "2021-01-01T08:00:00Z"
    assert any("3,200" in note and "2021-01-01" in note for note in ctx.notes)
    assert responses.calls[1].request.headers["Authorization"] == "Bearer t"


@responses.activate
def test_an_expired_token_fails_with_reconnect(twitter):
    responses.get(
        f"{BASE}/2/users/me",
        status=401,
        json={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
    )

    with pytest.raises(ExtractorError) as caught:
        list(twitter.pages(_client(twitter), FetchContext()))

    assert caught.value.code == "unauthorized"


@responses.activate
def test_a_spent_rate_limit_pauses_until_its_reset(twitter):
    slept = []
    responses.get(
        f"{BASE}/2/users/42/tweets",
        json=timeline([tweet("1")]),
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time()) + 20)},
    )
    client = ApiClient(twitter, base_url=BASE, token="t", session=requests.Session(), sleep=slept.append)

    list(twitter.resource_pages(client, FetchContext(state={"user_id": "42"}), "tweets"))

    assert len(slept) == 1 and 19 <= slept[0] <= 22


# --- against the live sandbox ---------------------------------------------------------------------


def _live_client(twitter, server, token=None):
    return ApiClient(
        twitter,
        base_url=f"{server.base_url}/twitter",
        token=token or mint_token("twitter", "demo"),
        sleep=lambda s: None,
    )


def test_pages_reads_the_timeline_from_the_sandbox(twitter, live_sandbox):
    server = live_sandbox()
    ctx = FetchContext()

    pages = list(twitter.pages(_live_client(twitter, server), ctx))

    # 60 posts at the sandbox's page of 20: three pages.
    assert len(pages) == 3
    records = [r for _, page in pages for r in page.records]
    assert len(records) == 60 and len({r["id"] for r in records}) == 60
    assert all(not page.skipped for _, page in pages)
    assert ctx.account["username"] == "demo"
    assert ctx.state["reached_back_to"] == min(twitter.record_timestamp("tweets", r) for r in records)
    assert any("3,200" in note for note in ctx.notes)

    media = [m for _, page in pages for m in page.media]
    media_base = f"{server.base_url}/twitter/media/"
    assert media and all(m.url.startswith(media_base) for m in media)
    photos = [m for m in media if m.media_id.startswith("3_")]
    assert photos and all("name=orig" in m.url and m.ext == "jpg" for m in photos)
    videos = [m for m in media if m.media_id.startswith("7_") and m.kind == "video"]
    assert videos and all(m.url.endswith("-2176k.mp4") and m.ext == "mp4" for m in videos)
    gifs = [m for m in media if m.media_id.startswith("16_") and m.kind == "video"]
    assert gifs and all(m.ext == "mp4" for m in gifs)
    ids = [m.media_id for m in media]
    assert all(ids.count(f"{m.media_id}_preview") == 1 for m in videos + gifs)

    joined = next(r for r in records if r["media"])
    assert [m["media_key"] for m in joined["media"]] == joined["attachments"]["media_keys"]

    stats = requests.get(f"{server.base_url}/_stats", timeout=5).json()["requests"]
    assert stats["/twitter/2/users/me"] == 1


def test_sandbox_media_are_real_files(twitter, live_sandbox):
    server = live_sandbox(records=8)
    session = guarded_session()
    media = [m for _, page in twitter.pages(_live_client(twitter, server), FetchContext()) for m in page.media]
    first = {}
    for item in media:
        first.setdefault(item.ext, item)

    magic = {"jpg": b"\xff\xd8\xff", "mp4": b"ftyp"}
    assert set(first) == set(magic)
    for ext, item in first.items():
        response = session.get(item.url, timeout=30)
        assert response.status_code == 200, item.url
        assert magic[ext] in response.content[:12]


def test_the_sandbox_timeline_stops_at_3200_posts(twitter, live_sandbox):
    server = live_sandbox(records=3300, page_size=100)
    client = _live_client(twitter, server)
    ctx = FetchContext()
    twitter.prepare(client, ctx)

    pages = list(twitter.resource_pages(client, ctx, "tweets"))

    assert len(pages) == 32
    assert sum(len(page.records) for _, page in pages) == 3200
    assert pages[-1][1].next is None
    assert ctx.state["reached_back_to"] == pages[-1][1].records[-1]["created_at"].replace(".000", "")


def test_rate_limited_answers_are_retried_and_nothing_is_lost(twitter, live_sandbox):
    server = live_sandbox(fault_429_every=2, retry_after=0, truncate_rate=0.2)

    pages = list(twitter.pages(_live_client(twitter, server), FetchContext()))

    assert sum(len(page.records) for _, page in pages) == 60


def test_a_token_the_sandbox_did_not_issue_asks_to_reconnect(twitter, live_sandbox):
    server = live_sandbox()

    with pytest.raises(ExtractorError) as caught:
        list(twitter.pages(_live_client(twitter, server, token=mint_token("reddit", "demo")), FetchContext()))

    assert caught.value.code == "unauthorized"
