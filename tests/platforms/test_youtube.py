import copy
from io import BytesIO

import pytest
import requests
import responses
from PIL import Image
from responses import matchers

from platforms.base import ExtractorError, FetchContext, Request
from platforms.client import ApiClient, guarded_session
from platforms.registry import get_extractor
from platforms.sandbox.auth import mint_token
from platforms.youtube.extractor import YouTubeExtractor

BASE = "https://www.googleapis.com"
CHANNEL = "youtube/channels_list_mine_contentdetails.json"
ITEMS_1 = "youtube/playlistitems_list_page1.json"
ITEMS_2 = "youtube/playlistitems_list_page2_last.json"


@pytest.fixture
def yt():
    return YouTubeExtractor()


def thumbnails(video_id, sizes=("default", "medium", "high", "standard", "maxres")):
    files = {
        "default": ("default.jpg", 120, 90),
        "medium": ("mqdefault.jpg", 320, 180),
        "high": ("hqdefault.jpg", 480, 360),
        "standard": ("sddefault.jpg", 640, 480),
        "maxres": ("maxresdefault.jpg", 1280, 720),
    }
    return {
        size: {
            "url": f"https://i.ytimg.com/vi/{video_id}/{files[size][0]}",
            "width": files[size][1],
            "height": files[size][2],
        }
        for size in sizes
    }


def video(video_id, sizes=("default", "medium", "high", "standard", "maxres")):
    """A Video resource as videos.list(part=snippet,contentDetails,statistics,status) returns it."""
    return {
        "kind": "youtube#video",
        "etag": "e",
        "id": video_id,
        "snippet": {
            "publishedAt": "2024-02-03T04:05:06Z",
            "channelId": "UCdemo",
            "title": f"Video {video_id}",
            "description": "",
            "thumbnails": thumbnails(video_id, sizes),
            "channelTitle": "Demo",
        },
        "contentDetails": {"duration": "PT1M2S", "dimension": "2d", "definition": "hd"},
        "statistics": {"viewCount": "10", "likeCount": "1", "commentCount": "0"},
        "status": {"uploadStatus": "processed", "privacyStatus": "public"},
    }


def playlist_item(item_id, video_id, playlist_id):
    return {
        "kind": "youtube#playlistItem",
        "id": item_id,
        "snippet": {
            "publishedAt": "2024-02-03T04:05:06Z",
            "title": f"Video {video_id}",
            "thumbnails": thumbnails(video_id, ("default", "medium", "high")),
            "playlistId": playlist_id,
            "position": 0,
            "resourceId": {"kind": "youtube#video", "videoId": video_id},
        },
        "contentDetails": {"videoId": video_id, "videoPublishedAt": "2024-02-03T04:05:06Z"},
        "status": {"privacyStatus": "public"},
    }


def listing(kind, items, next_token=None):
    body = {
        "kind": f"youtube#{kind}ListResponse",
        "etag": "e",
        "pageInfo": {"totalResults": len(items)},
        "items": items,
    }
    if next_token:
        body["nextPageToken"] = next_token
    return body


def quota_body():
    return {
        "error": {
            "code": 403,
            "message": "The request cannot be completed because you have exceeded your quota.",
            "errors": [
                {
                    "message": "The request cannot be completed because you have exceeded your quota.",
                    "domain": "youtube.quota",
                    "reason": "quotaExceeded",
                }
            ],
        }
    }


def test_registry_gives_the_youtube_extractor():
    extractor = get_extractor("youtube")
    assert isinstance(extractor, YouTubeExtractor)
    assert extractor.resources == ("channels", "playlist_items", "videos", "playlists")
    assert extractor.account_resource == "channels"


def test_the_channel_gives_its_largest_avatar(yt, sample):
    page = yt.parse("channels", sample(CHANNEL))

    [channel] = page.records
    assert channel["id"] == "UCCTLP0aZxWx25BZYzbzHjvA"
    [avatar] = page.media
    assert avatar.media_id == "UCCTLP0aZxWx25BZYzbzHjvA_avatar"
    assert avatar.url.endswith("=s800-c-k-c0x00ffffff-no-rj")
    assert (avatar.kind, avatar.ext) == ("image", "jpg")
    assert avatar.extra == {"size": "high", "width": 800, "height": 800}
    assert avatar.timestamp == "2014-04-06T23:02:37Z"


def test_the_channel_banner_comes_from_branding_settings(yt, sample):
    body = sample(CHANNEL)
    banner = "https://yt3.googleusercontent.com/AbCdEf123"
    body["items"][0]["brandingSettings"] = {"channel": {"title": "Sean Tilson"}, "image": {"bannerExternalUrl": banner}}

    page = yt.parse("channels", body)

    assert [m.media_id for m in page.media] == ["UCCTLP0aZxWx25BZYzbzHjvA_avatar", "UCCTLP0aZxWx25BZYzbzHjvA_banner"]
    assert page.media[1].url == banner
    assert page.media[1].ext == "jpg"


def test_playlist_items_take_the_maxres_thumbnail_under_the_video_id(yt, sample):
    page = yt.parse("playlist_items", sample(ITEMS_1))

    assert len(page.records) == len(page.media) == 10
    first = page.media[0]
    assert first.media_id == "CvTApw9X8aA_thumb"
    assert first.url == "https://i.ytimg.com/vi/CvTApw9X8aA/maxresdefault.jpg"
    assert first.record_id == page.records[0]["id"]
    assert first.timestamp == "2019-11-21T22:17:43Z"
    assert first.caption.startswith("Welcome from Google Developers")


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        (("default", "medium", "high", "standard"), "sddefault.jpg"),
        (("default", "medium", "high"), "hqdefault.jpg"),
        (("default", "medium"), "mqdefault.jpg"),
        (("default",), "default.jpg"),
    ],
)
def test_best_thumbnail_falls_back_when_maxres_is_missing(yt, sizes, expected):
    page = yt.parse("videos", listing("video", [video("abc123def45", sizes)]))

    [thumb] = page.media
    assert thumb.url == f"https://i.ytimg.com/vi/abc123def45/{expected}"
    assert thumb.media_id == "abc123def45_thumb"
    assert thumb.record_id == "abc123def45"


def test_the_viewer_links_to_youtube_pages(yt, sample):
    item = sample(ITEMS_1)["items"][0]

    assert yt.summary("videos", video("abc123def45"))["link"] == "https://www.youtube.com/watch?v=abc123def45"
    assert yt.summary("playlist_items", item) == {
        "title": item["snippet"]["title"],
        "text": item["snippet"]["description"],
        "link": "https://www.youtube.com/watch?v=CvTApw9X8aA&list=PLOU2XLYxmsIKpaV8h0AGE05so0fAwwfTw",
    }


def test_a_deleted_video_in_a_playlist_keeps_its_record_without_media(yt):
    item = playlist_item("PLi1", "gone0000000", "PLx")
    item["snippet"].update(title="Deleted video", thumbnails={})

    page = yt.parse("playlist_items", listing("playlistItem", [item]))

    assert [r["id"] for r in page.records] == ["PLi1"]
    assert page.media == []


def test_a_playlist_item_and_its_video_share_one_thumbnail_file(yt):
    from_item = yt.parse("playlist_items", listing("playlistItem", [playlist_item("UUi1", "vid00000001", "UUdemo")]))
    from_video = yt.parse("videos", listing("video", [video("vid00000001")]))

    assert from_item.media[0].media_id == from_video.media[0].media_id == "vid00000001_thumb"


def test_next_is_the_page_token_and_none_on_the_last_page(yt, sample):
    assert yt.parse("playlist_items", sample(ITEMS_1)).next == "CAoQAA"
    last = yt.parse("playlist_items", sample(ITEMS_2))
    assert last.next is None
    assert len(last.records) == 3


def test_a_bad_record_is_skipped_and_the_rest_kept(yt):
    broken = video("broken00001")
    broken["snippet"] = "not an object"
    body = listing("video", [{"kind": "youtube#video"}, broken, video("fine0000001")])

    page = yt.parse("videos", body)

    assert [r["id"] for r in page.records] == ["fine0000001"]
    assert [s["record_id"] for s in page.skipped] == ["#0", "broken00001"]


def test_an_empty_list_without_items_is_an_empty_page(yt):
    page = yt.parse("playlists", {"kind": "youtube#playlistListResponse", "pageInfo": {"totalResults": 0}})
    assert (page.records, page.media, page.next) == ([], [], None)


@pytest.mark.parametrize("body", [[], "<html>", None, {"items": {"id": "x"}}])
def test_an_unreadable_body_raises(yt, body):
    with pytest.raises(ExtractorError) as caught:
        yt.parse("videos", body)
    assert "YouTube" in caught.value.message


def test_quota_exceeded_is_not_retried_today(yt):
    error = yt.error_for(403, quota_body(), {})

    assert error.message == "daily YouTube quota used up; try after midnight Pacific time"
    assert error.retryable is False
    assert error.code == "quota"


def test_quota_error_body_given_to_parse_raises_the_quota_error(yt):
    with pytest.raises(ExtractorError) as caught:
        yt.parse("videos", quota_body())
    assert caught.value.code == "quota"


def test_user_rate_limit_is_retryable(yt):
    body = {"error": {"code": 403, "message": "Rate Limit Exceeded", "errors": [{"reason": "userRateLimitExceeded"}]}}
    error = yt.error_for(403, body, {})
    assert (error.retryable, error.code) == (True, "rate_limited")


def test_an_invalid_token_asks_to_reconnect(yt):
    body = {"error": {"code": 401, "message": "Invalid Credentials", "errors": [{"reason": "authError"}]}}
    error = yt.error_for(401, body, {})
    assert error.code == "unauthorized"
    assert "reconnect" in error.message


def test_a_body_that_is_not_a_google_error_is_left_to_the_client(yt):
    assert yt.error_for(502, "<html>Bad gateway</html>", {}) is None


def test_every_list_call_costs_one_unit(yt):
    ctx = FetchContext(state={"playlist_id": "UUdemo", "video_ids": ["a", "b"]})
    for resource in yt.resources:
        assert yt.units_for(yt.request(resource, None, ctx)) == 1
    assert yt.units_for(Request(url="https://i.ytimg.com/vi/a/default.jpg")) == 0


def test_requests_carry_the_parts_the_export_needs(yt):
    ctx = FetchContext(state={"playlist_id": "UUdemo", "video_ids": [f"v{i}" for i in range(60)]})

    channels = yt.request("channels", None, ctx)
    assert channels.url == "/youtube/v3/channels"
    assert channels.params["mine"] == "true"
    assert set(channels.params["part"].split(",")) >= {"snippet", "contentDetails", "statistics"}

    items = yt.request("playlist_items", "CAoQAA", ctx)
    assert items.url == "/youtube/v3/playlistItems"
    assert items.params["playlistId"] == "UUdemo"
    assert items.params["maxResults"] == "50"
    assert items.params["pageToken"] == "CAoQAA"

    videos = yt.request("videos", None, ctx)
    assert videos.params["part"] == "snippet,contentDetails,statistics,status"
    assert len(videos.params["id"].split(",")) == 50

    assert yt.request("playlist_items", None, FetchContext()) is None


@responses.activate
def test_pages_follows_channel_uploads_videos_and_playlists(yt, sample):
    channel = copy.deepcopy(sample(CHANNEL))
    channel_id = channel["items"][0]["id"]
    uploads = channel["items"][0]["contentDetails"]["relatedPlaylists"]["uploads"]
    video_ids = [f"vid{n:08d}" for n in range(60)]
    responses.add(responses.GET, f"{BASE}/youtube/v3/channels", json=channel)
    upload_items = [playlist_item(f"UUi{n}", vid, uploads) for n, vid in enumerate(video_ids)]
    responses.add(
        responses.GET,
        f"{BASE}/youtube/v3/playlistItems",
        match=[matchers.query_param_matcher({"playlistId": uploads, "pageToken": "P2"}, strict_match=False)],
        json=listing("playlistItem", upload_items[50:]),
    )
    responses.add(
        responses.GET,
        f"{BASE}/youtube/v3/playlistItems",
        match=[matchers.query_param_matcher({"playlistId": uploads}, strict_match=False)],
        json=listing("playlistItem", upload_items[:50], next_token="P2"),
    )
    for batch in (video_ids[:50], video_ids[50:]):
        responses.add(
            responses.GET,
            f"{BASE}/youtube/v3/videos",
            match=[matchers.query_param_matcher({"id": ",".join(batch)}, strict_match=False)],
            json=listing("video", [video(v) for v in batch]),
        )
    playlist = {"kind": "youtube#playlist", "id": "PLmine", "snippet": {"title": "Mine", "thumbnails": thumbnails("x")}}
    responses.add(responses.GET, f"{BASE}/youtube/v3/playlists", json=listing("playlist", [playlist]))
    responses.add(
        responses.GET,
        f"{BASE}/youtube/v3/playlistItems",
        match=[matchers.query_param_matcher({"playlistId": "PLmine"}, strict_match=False)],
        json=listing("playlistItem", [playlist_item("PLi1", "elsewhere01", "PLmine")]),
    )
    client = ApiClient(yt, base_url=BASE, token="t", session=requests.Session(), sleep=lambda s: None)
    ctx = FetchContext()

    pages = list(yt.pages(client, ctx))

    assert [resource for resource, _ in pages] == [
        "channels",
        "playlist_items",
        "playlist_items",
        "videos",
        "videos",
        "playlists",
        "playlist_items",
    ]
    assert ctx.account["id"] == channel_id
    videos = [r["id"] for name, p in pages if name == "videos" for r in p.records]
    assert videos == video_ids
    video_calls = [c for c in responses.calls if "/videos" in c.request.url]
    assert [len(c.request.params["id"].split(",")) for c in video_calls] == [50, 10]
    assert client.units == len(responses.calls) == 7
    media_ids = {m.media_id for _, p in pages for m in p.media}
    assert {f"{channel_id}_avatar", "PLmine_thumb", "elsewhere01_thumb"} <= media_ids
    assert {f"{v}_thumb" for v in video_ids} <= media_ids


@responses.activate
def test_an_account_without_a_channel_ends_with_a_note(yt):
    responses.add(responses.GET, f"{BASE}/youtube/v3/channels", json=listing("channel", []))
    client = ApiClient(yt, base_url=BASE, token="t", session=requests.Session(), sleep=lambda s: None)
    ctx = FetchContext()

    pages = list(yt.pages(client, ctx))

    assert [resource for resource, _ in pages] == ["channels"]
    assert ctx.account is None
    assert "no YouTube channel" in ctx.notes[0]
    assert len(responses.calls) == 1


@responses.activate
def test_quota_exceeded_stops_the_export_with_its_reason(yt):
    responses.add(responses.GET, f"{BASE}/youtube/v3/channels", json=quota_body(), status=403)
    client = ApiClient(yt, base_url=BASE, token="t", session=requests.Session(), sleep=lambda s: None)

    with pytest.raises(ExtractorError) as caught:
        list(yt.pages(client, FetchContext()))
    assert (caught.value.code, caught.value.retryable) == ("quota", False)


# --- against the live sandbox ---------------------------------------------------------------------


def _live_client(yt, server, user="demo"):
    return ApiClient(yt, base_url=f"{server.base_url}/youtube", token=mint_token("youtube", user), sleep=lambda s: None)


def test_pages_reads_channel_uploads_videos_and_playlists_from_the_sandbox(yt, live_sandbox):
    server = live_sandbox()
    client = _live_client(yt, server)
    ctx = FetchContext()

    pages = list(yt.pages(client, ctx))

    records = {res: [r for name, p in pages if name == res for r in p.records] for res in yt.resources}
    assert all(not p.skipped for _, p in pages)
    assert len(records["channels"]) == 1
    channel = records["channels"][0]
    assert ctx.account == channel
    assert len(records["videos"]) == 60 and len({v["id"] for v in records["videos"]}) == 60
    assert records["playlists"]
    uploads = channel["contentDetails"]["relatedPlaylists"]["uploads"]
    from_uploads = [i for i in records["playlist_items"] if i["snippet"]["playlistId"] == uploads]
    assert [i["contentDetails"]["videoId"] for i in from_uploads] == [v["id"] for v in records["videos"]]
    assert {i["snippet"]["playlistId"] for i in records["playlist_items"]} == {uploads} | {
        p["id"] for p in records["playlists"]
    }
    assert all({"snippet", "contentDetails", "statistics", "status"} <= set(v) for v in records["videos"])

    media = [m for _, p in pages for m in p.media]
    assert all(m.url.startswith(f"{server.base_url}/youtube/media/") for m in media)
    by_id = {m.media_id: m for m in media}
    assert {f"{channel['id']}_avatar", f"{channel['id']}_banner"} <= set(by_id)
    sizes = {v["id"]: set(v["snippet"]["thumbnails"]) for v in records["videos"]}
    for video_id, available in sizes.items():
        thumb = by_id[f"{video_id}_thumb"]
        best = next(s for s in ("maxres", "standard", "high", "medium", "default") if s in available)
        assert thumb.extra["size"] == best
    assert {"maxres", "standard", "high"} <= {by_id[f"{v}_thumb"].extra["size"] for v in sizes}
    deleted = [i for i in records["playlist_items"] if i["snippet"]["title"] == "Deleted video"]
    assert deleted and not [m for m in media if m.record_id == deleted[0]["id"]]

    stats = requests.get(f"{server.base_url}/_stats", timeout=5).json()["requests"]
    assert stats["/youtube/youtube/v3/channels"] == 1
    assert stats["/youtube/youtube/v3/videos"] == 2  # 60 ids in batches of 50
    assert client.units == sum(n for path, n in stats.items() if "/youtube/v3/" in path)


def test_a_small_page_size_pages_the_uploads(yt, live_sandbox):
    server = live_sandbox(records=12, page_size=5)

    pages = list(yt.pages(_live_client(yt, server), FetchContext()))

    uploads = [p for name, p in pages if name == "playlist_items"][:3]
    assert [len(p.records) for p in uploads] == [5, 5, 2]
    assert [bool(p.next) for p in uploads] == [True, True, False]
    assert sum(len(p.records) for name, p in pages if name == "videos") == 12


def test_the_sandbox_quota_knob_ends_the_export_with_the_quota_message(yt, live_sandbox):
    server = live_sandbox(youtube_quota_exceeded=True)

    with pytest.raises(ExtractorError) as caught:
        list(yt.pages(_live_client(yt, server), FetchContext()))

    assert caught.value.message == "daily YouTube quota used up; try after midnight Pacific time"
    assert (caught.value.code, caught.value.retryable) == ("quota", False)


def test_a_token_the_sandbox_did_not_issue_asks_to_reconnect(yt, live_sandbox):
    server = live_sandbox()
    client = ApiClient(yt, base_url=f"{server.base_url}/youtube", token="made-up", sleep=lambda s: None)

    with pytest.raises(ExtractorError) as caught:
        list(yt.pages(client, FetchContext()))
    assert caught.value.code == "unauthorized"


def test_sandbox_thumbnails_are_real_jpegs_of_the_listed_size(yt, live_sandbox):
    server = live_sandbox(records=4)
    media = [m for _, p in yt.pages(_live_client(yt, server), FetchContext()) for m in p.media]
    thumb = next(m for m in media if m.media_id.endswith("_thumb") and m.extra.get("size") == "maxres")

    response = guarded_session().get(thumb.url, timeout=30)

    assert response.status_code == 200
    assert response.content[:3] == b"\xff\xd8\xff"
    assert Image.open(BytesIO(response.content)).size == (thumb.extra["width"], thumb.extra["height"])
