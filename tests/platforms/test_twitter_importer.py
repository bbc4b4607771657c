import io

import pytest

from platforms.importer import archive_open
from platforms.registry import get_extractor
from platforms.registry import get_importer as importer_for
from platforms.twitter.importer import tweet_v2
from tests.fixtures.archives import x_archive_members, x_media_count, x_tweets, ytd, zip_bytes


def read(members: dict):
    importer = importer_for("twitter")
    archive = archive_open(io.BytesIO(zip_bytes(members)))
    return importer, archive, list(importer.records(archive))


@pytest.fixture(scope="module")
def sample():
    return read(x_archive_members())


def test_every_tweet_of_the_real_archive_is_read(sample):
    importer, _, rows = sample
    assert importer.skipped == []
    assert [r[0] for r in rows] == ["tweets"] * len(x_tweets()) + ["profile"]
    assert [r[1]["id"] for r in rows[:-1]] == [t["tweet"]["id_str"] for t in x_tweets()]
    profile, avatar = rows[-1][1], rows[-1][2]
    assert (profile["id"], profile["username"]) == ("20077771", "andreruffert")
    assert [(m.media_id, m.member) for m in avatar] == [("20077771_avatar", "data/profile_media/20077771-a.jpg")]


def test_a_tweet_takes_the_shape_the_api_v2_gives():
    raw = next(t["tweet"] for t in x_tweets() if t["tweet"]["id_str"] == "879292496907563008")
    tweet = tweet_v2(raw)
    assert tweet["text"] == raw["full_text"]
    assert tweet["created_at"] == "2017-06-26T10:57:22.000Z"
    assert tweet["public_metrics"] == {"retweet_count": 0, "like_count": 0}
    assert tweet["edit_history_tweet_ids"] == ["879292496907563008"]
    assert tweet["source"] == "Twitter Web Client"
    assert tweet["entities"]["mentions"] == [{"start": 3, "end": 12, "username": "moroshko", "id": "1038766608"}]
    assert tweet["entities"]["urls"][0] == {
        "start": 39,
        "end": 62,
        "url": "https://t.co/8hxaEMjcjr",
        "expanded_url": "http://rxviz.com",
        "display_url": "rxviz.com",
    }
    # Media joined as the extractor joins includes.media, keyed by v2 media keys.
    assert tweet["attachments"] == {"media_keys": ["16_878792590291644417"]}
    gif = tweet["media"][0]
    assert gif["type"] == "animated_gif"
    assert gif["preview_image_url"] == "https://pbs.twimg.com/tweet_video_thumb/DDIZNG-UMAEZDEg.jpg"
    assert gif["variants"] == [
        {"bit_rate": 0, "content_type": "video/mp4", "url": "https://video.twimg.com/tweet_video/DDIZNG-UMAEZDEg.mp4"}
    ]
    # What v2 has no field for is kept, not dropped.
    assert tweet["archive"]["display_text_range"] == ["0", "128"]


def test_a_reply_names_the_tweet_it_replies_to():
    raw = next(t["tweet"] for t in x_tweets() if t["tweet"]["id_str"] == "1381577197325008899")
    tweet = tweet_v2(raw)
    assert tweet["referenced_tweets"] == [{"type": "replied_to", "id": "1381574095637204994"}]
    assert tweet["in_reply_to_user_id"] == "20077772"


def test_media_ids_and_urls_are_the_extractors(sample):
    _, _, rows = sample
    extractor = get_extractor("twitter")
    for _, record, media in rows[:-1]:
        expected = [(m.media_id, m.url, m.kind) for m in extractor.media_for(record)]
        assert [(m.media_id, m.url, m.kind) for m in media] == expected


def test_every_media_file_is_found_in_tweets_media(sample):
    _, archive, rows = sample
    media = [m for r in rows for m in r[2]]
    images, videos = x_media_count()
    assert sum(m.kind == "image" for m in media) == images
    assert sum(m.kind == "video" for m in media) == videos
    assert all(m.member and archive.exists(m.member) for m in media)
    gif = next(m for r in rows if r[1]["id"] == "879292496907563008" for m in r[2] if m.kind == "video")
    assert gif.member == "data/tweets_media/879292496907563008-DDIZNG-UMAEZDEg.mp4"
    assert len({m.member for m in media}) == len(media)


def test_media_missing_from_the_archive_keep_their_url():
    _, _, rows = read(x_archive_members(media=False))
    photo = next(m for r in rows for m in r[2] if m.kind == "image" and not m.media_id.endswith("_preview"))
    assert photo.member is None
    assert photo.url.startswith("https://pbs.twimg.com/media/") and photo.url.endswith("name=orig")


def test_the_profile_comes_from_account_and_profile_files():
    importer, archive, _ = read(x_archive_members(media=False))
    account = importer.account(archive)
    assert account["id"] == "20077771"
    assert account["username"] == "andreruffert"
    assert account["name"] == "André Ruffert"
    assert account["description"] == "Web developer"
    assert account["location"] == "Berlin"
    assert account["archive"]["email"] == "andre@example.com"


def test_deleted_tweets_are_their_own_resource_with_their_own_media_folder():
    from platforms.sandbox.media import image

    raw = next(
        t["tweet"]
        for t in x_tweets()
        if [m["type"] for m in (t["tweet"].get("extended_entities") or {}).get("media", [])] == ["photo"]
    )
    photo = raw["extended_entities"]["media"][0]
    deleted = {**raw, "id_str": "42", "id": "42", "deleted_at": "Tue Mar 05 10:00:00 +0000 2024"}
    members = {
        "data/tweets.js": ytd("tweets", []),
        "data/deleted-tweets.js": ytd("deleted_tweets", [{"tweet": deleted}]),
        f"data/deleted_tweets_media/42-{photo['media_url_https'].rsplit('/', 1)[-1]}": image("d"),
    }
    _, _, rows = read(members)
    assert [(r[0], r[1]["id"]) for r in rows] == [("deleted_tweets", "42")]
    assert rows[0][1]["deleted_at"] == "2024-03-05T10:00:00.000Z"
    assert rows[0][2][0].member.startswith("data/deleted_tweets_media/42-")


def test_split_tweet_files_older_names_and_a_wrapping_folder_are_read():
    tweets = x_tweets()
    members = {
        "twitter-2024/data/tweet.js": ytd("tweet", tweets[:3]),
        "twitter-2024/data/tweets-part1.js": ytd("tweets", tweets[3:5]),
    }
    importer, _, rows = read(members)
    assert importer.detect(list(members))
    assert len(rows) == 5


def test_an_unreadable_tweet_is_skipped_with_its_reason_and_the_rest_are_read():
    tweets = x_tweets()[:3]
    broken = {"tweet": {**tweets[1]["tweet"], "created_at": "yesterday"}}
    importer, _, rows = read({"data/tweets.js": ytd("tweets", [tweets[0], broken, tweets[2], {"tweet": 7}])})
    assert len(rows) == 2
    assert [s["record_id"] for s in importer.skipped] == [tweets[1]["tweet"]["id_str"], "#4 in data/tweets.js"]
    assert "created_at" in importer.skipped[0]["reason"]


def test_an_x_archive_is_detected_by_its_tweets_file():
    importer = importer_for("twitter")
    assert importer.detect(["data/tweets.js", "data/account.js"])
    assert importer.detect(["x/data/tweets-part1.js"])
    assert not importer.detect(["posts/your_posts_1.json", "data/other.js"])


def test_a_long_post_is_joined_from_note_tweet_js_and_likes_lists_and_the_banner_are_read():
    from platforms.sandbox.media import image

    raw = next(t for t in x_tweets() if t["tweet"]["id_str"] == "879292496907563008")
    # The tweet is the note's start and a link to the rest; the note holds all of it.
    long_text = raw["tweet"]["full_text"].rsplit(" https://t.co/", 1)[0] + " and then it goes on, past 280 characters."
    note = {"noteTweet": {"noteTweetId": "5", "core": {"text": long_text}, "createdAt": "2017-06-26T10:57:22.000Z"}}
    found = x_archive_members()
    found["data/tweets.js"] = ytd("tweets", [raw])
    found["data/note-tweet.js"] = ytd("note_tweet", [note])
    found["data/like.js"] = ytd(
        "like", [{"like": {"tweetId": "42", "fullText": "Nice", "expandedUrl": "https://x.com/i/42"}}]
    )
    found["data/lists-created.js"] = ytd("lists_created", [{"userListInfo": {"url": "https://x.com/i/lists/77"}}])
    found["data/profile.js"] = ytd(
        "profile",
        [{"profile": {"avatarMediaUrl": "https://pbs.twimg.com/profile_images/1/a.jpg",
                      "headerMediaUrl": "https://pbs.twimg.com/profile_banners/20077771/1500000000"}}],
    )  # fmt: skip
    found["data/profile_media/20077771-1500000000.jpg"] = image("banner")
    importer, archive, rows = read(found)
    by_resource = {}
    for resource, record, media in rows:
        by_resource.setdefault(resource, []).append((record, media))
    tweet = by_resource["tweets"][0][0]
    assert tweet["text"] == long_text and tweet["note_tweet"] == {"text": long_text}
    assert [r for r, _ in by_resource["likes"]] == [{"id": "42", "text": "Nice", "url": "https://x.com/i/42"}]
    assert [r for r, _ in by_resource["lists"]] == [{"id": "77", "url": "https://x.com/i/lists/77"}]
    profile_media = by_resource["profile"][0][1]
    assert [(m.media_id, m.member) for m in profile_media] == [
        ("20077771_avatar", "data/profile_media/20077771-a.jpg"),
        ("20077771_banner", "data/profile_media/20077771-1500000000.jpg"),
    ]


def test_tweets_js_is_read_item_by_item_and_damage_keeps_what_came_before():
    tweets = x_tweets()[:3]
    text = ytd("tweets", tweets)
    cut = text[: text.index(tweets[2]["tweet"]["id_str"]) + 5]  # cut inside the third tweet
    importer, _, rows = read({"data/tweets.js": cut})
    assert [r[1]["id"] for r in rows] == [t["tweet"]["id_str"] for t in tweets[:2]]
    assert importer.skipped[0]["record_id"] == "data/tweets.js"
    assert "could not be read" in importer.skipped[0]["reason"]


def circle_and_deleted_members() -> dict:
    """A 2023 archive as the manifest of that year lists it: Circle posts with their own media
    folder, a deleted long post with its whole text in deleted-note-tweet.js, a group conversation
    with a file present and one absent, and the files that are not content."""
    from platforms.sandbox.media import image

    photo = next(
        t["tweet"]
        for t in x_tweets()
        if [m["type"] for m in (t["tweet"].get("extended_entities") or {}).get("media", [])] == ["photo"]
    )
    picture = photo["extended_entities"]["media"][0]["media_url_https"].rsplit("/", 1)[-1]
    circle = {**photo, "id_str": "1600000000000000001", "id": "1600000000000000001"}
    long_text = "Deleted, and long: " + "word " * 70
    deleted = {
        **x_tweets()[0]["tweet"],
        "id_str": "1600000000000000002",
        "id": "1600000000000000002",
        "full_text": long_text[:270] + "… https://t.co/abc",
        "created_at": "Tue Mar 05 09:00:00 +0000 2024",
        "deleted_at": "Tue Mar 05 10:00:00 +0000 2024",
        "entities": {},
        "extended_entities": {},
    }
    note = {
        "deletedNoteTweet": {"noteTweetId": "9", "core": {"text": long_text}, "createdAt": "2024-03-05T09:00:00.000Z"}
    }
    group = {
        "dmConversation": {
            "conversationId": "777",
            "messages": [
                {"messageCreate": {"id": "1700000000000000001", "senderId": "20077771", "text": "Look",
                                   "createdAt": "2024-03-06T10:00:00.000Z",
                                   "mediaUrls": ["https://ton.twitter.com/1.1/ton/data/dm/1700000000000000001/1/kQ.jpg"]}},
                {"messageCreate": {"id": "1700000000000000002", "senderId": "20077772", "text": "And this",
                                   "createdAt": "2024-03-06T10:01:00.000Z",
                                   "mediaUrls": ["https://ton.twitter.com/1.1/ton/data/dm/1700000000000000002/2/zz.png"]}},
                {"joinConversation": {"initiatingUserId": "20077772", "createdAt": "2024-03-06T09:00:00.000Z"}},
            ],
        }
    }  # fmt: skip
    top = "twitter-2024-03-07-ada/"
    return {
        f"{top}data/tweets.js": ytd("tweets", []),
        f"{top}data/twitter-circle-tweet.js": ytd("twitter_circle_tweet", [{"tweet": circle}]),
        f"{top}data/twitter_circle_tweet_media/1600000000000000001-{picture}": image("circle"),
        f"{top}data/deleted-tweets.js": ytd("deleted_tweets", [{"tweet": deleted}]),
        f"{top}data/deleted-note-tweet.js": ytd("deleted_note_tweet", [note]),
        f"{top}data/direct-messages-group.js": ytd("direct_messages_group", [group]),
        f"{top}data/direct_messages_group_media/1700000000000000001-kQ.jpg": image("group"),
        f"{top}data/tweet-headers.js": ytd("tweet_headers", []),
        f"{top}data/twitter-circle.js": ytd("twitter_circle", [{"twitterCircle": {"id": "1"}}]),
        f"{top}data/moment.js": ytd("moment", []),
        f"{top}data/spaces_media/1YqGoAbC-audio.m4a": b"\x00\x00\x00\x18ftypM4A ",
        f"{top}data/README.txt": "FILE DESCRIPTIONS",
        f"{top}data/manifest.js": "window.__THAR_CONFIG = {}",
    }


@pytest.mark.django_db
def test_circle_posts_deleted_long_posts_and_group_messages_are_read_whole(make_user, platforms, settings, tmp_path):
    import hashlib

    from exports.models import MediaFile
    from tests.fixtures.archives import imported, unaccounted

    found = circle_and_deleted_members()
    top = "twitter-2024-03-07-ada/"
    job = imported(make_user("ada"), "twitter", zip_bytes(found), settings=settings, tmp_path=tmp_path)
    records = {(r.resource, r.external_id): r.data for r in job.records.all()}
    join = "777_joinConversation_2024-03-06T09:00:00.000Z"
    assert set(records) == {
        ("circle_tweets", "1600000000000000001"),
        ("deleted_tweets", "1600000000000000002"),
        ("direct_messages", "1700000000000000001"),
        ("direct_messages", "1700000000000000002"),
        ("direct_messages", join),
    }
    assert records[("direct_messages", join)]["event_type"] == "ParticipantsJoin"
    assert records[("direct_messages", join)]["sender_id"] == "20077772"
    deleted = records[("deleted_tweets", "1600000000000000002")]
    assert deleted["text"] == "Deleted, and long: " + "word " * 70
    assert deleted["note_tweet"] == {"text": deleted["text"]}
    files = {m.media_id: m for m in job.media_files.all()}
    circle = next(m for m in files.values() if m.record_ids == ["1600000000000000001"])
    member = next(n for n in found if "twitter_circle_tweet_media/" in n)
    assert circle.status == MediaFile.Status.DONE
    assert circle.sha256 == hashlib.sha256(found[member]).hexdigest()
    present, absent = files["dm_1700000000000000001_0"], files["dm_1700000000000000002_0"]
    assert present.status == MediaFile.Status.DONE
    assert (
        present.sha256
        == hashlib.sha256(found[f"{top}data/direct_messages_group_media/1700000000000000001-kQ.jpg"]).hexdigest()
    )
    assert absent.status == MediaFile.Status.FAILED
    assert absent.extra["missing_from_archive"] == f"{top}data/direct_messages_group_media/1700000000000000002-zz.png"
    for name, reason in (
        ("data/tweet-headers.js", "the ids and times of the posts and messages"),
        ("data/twitter-circle.js", "the members of your Circle, not content"),
        ("data/moment.js", "Moments, X's retired collections of posts"),
        ("data/spaces_media/1YqGoAbC-audio.m4a", "recordings of Spaces and Periscope broadcasts"),
        ("data/README.txt", "X's description of the archive's files"),
        ("data/manifest.js", "the archive's own table of contents"),
    ):
        assert any(n.startswith(f"{top}{name}: {reason}") for n in job.notes), name
    data_files = ("tweets.js", "twitter-circle-tweet.js", "deleted-tweets.js", "deleted-note-tweet.js")
    read = {f"{top}data/{n}" for n in (*data_files, "direct-messages-group.js")}
    assert unaccounted(job, found) == read


def test_a_2019_archive_s_direct_message_js_is_read_with_its_folder():
    """2019 archives name the messages file and folder in the singular: direct-message.js and
    direct_message_media/."""
    from platforms.sandbox.media import image

    conversation = {
        "dmConversation": {
            "conversationId": "20077771-20077772",
            "messages": [
                {"messageCreate": {"id": "1100000000000000001", "senderId": "20077772", "recipientId": "20077771",
                                   "text": "Old times", "createdAt": "2019-03-06T10:00:00.000Z",
                                   "mediaUrls": ["https://ton.twitter.com/1.1/ton/data/dm/1100000000000000001/3/old.jpg"]}},
                {"messageCreate": {"id": "1100000000000000002", "senderId": "20077771", "recipientId": "20077772",
                                   "text": "Gone", "createdAt": "2019-03-06T10:01:00.000Z",
                                   "mediaUrls": ["https://ton.twitter.com/1.1/ton/data/dm/1100000000000000002/4/gone.jpg"]}},
            ],
        }
    }  # fmt: skip
    found = {
        "data/tweet.js": ytd("tweet", []),
        "data/direct-message.js": ytd("direct_message", [conversation]),
        "data/direct_message_media/1100000000000000001-old.jpg": image("old"),
        "data/direct-message-headers.js": ytd("direct_message_headers", []),
    }
    importer, archive, rows = read(found)
    assert [(r[0], r[1]["id"], [m.member for m in r[2]]) for r in rows] == [
        ("direct_messages", "1100000000000000001", ["data/direct_message_media/1100000000000000001-old.jpg"]),
        ("direct_messages", "1100000000000000002", ["data/direct_message_media/1100000000000000002-gone.jpg"]),
    ]
    assert importer.why_not_read("data/direct-message-headers.js").startswith("the ids and times")
    importer.skip_sensitive = True
    assert importer.why_not_read("data/direct-message.js") == "left out, as asked (messages and history)"
