import csv
import io

import pytest

from exports.importing import job_import
from exports.models import MediaFile
from platforms.importer import archive_open
from platforms.registry import get_extractor
from platforms.registry import get_importer as importer_for
from tests.fixtures.archives import imported, unaccounted, uploaded_job, zip_bytes

POST_COLUMNS = ["id", "permalink", "date", "ip", "subreddit", "gildings", "title", "url", "body"]
COMMENT_COLUMNS = ["id", "permalink", "date", "ip", "subreddit", "gildings", "link", "parent", "body", "media"]


def table(columns: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def members(prefix: str = "export_ada_20240530/", *, links: bool = True) -> dict:
    """A data request; without `links`, no post links to a file (nothing to fetch)."""
    permalink = "https://www.reddit.com/r/pics/comments/{}/x/"
    posts = [
        ["abc1", permalink.format("abc1"), "2024-05-18 04:35:32 UTC", "10.0.0.1", "pics", "1", "My cat",
         "https://i.redd.it/7z48j742cnrb1.jpg", ""],
        ["abc2", permalink.format("abc2"), "2023-01-02 03:04:05 UTC", "", "gifs", "0", "Loop",
         "https://i.imgur.com/AbCdEf.gifv", ""],
        ["abc3", permalink.format("abc3"), "2022-06-07 08:09:10 UTC", "", "videos", "0", "Clip",
         "https://v.redd.it/5ph4906syw261", ""],
        ["abc4", permalink.format("abc4"), "2021-01-01 00:00:00 UTC", "", "self", "0", "Thoughts",
         "", "A long\nbody, with \"quotes\""],
        ["abc5", permalink.format("abc5"), "2020-01-01 00:00:00 UTC", "", "news", "0", "A link",
         "https://example.com/article", ""],
    ]  # fmt: skip
    if not links:
        for row in posts:
            row[7] = ""
    comments = [
        ["c1", "https://www.reddit.com/r/pics/comments/abc1/x/c1/", "2024-05-19 00:00:00 UTC", "", "pics", "0",
         "https://www.reddit.com/r/pics/comments/abc1/x/", "t3_abc1", "Thanks!", ""],
        ["bad!", "", "", "", "", "", "", "", "", ""],
    ]  # fmt: skip
    return {
        f"{prefix}posts.csv": table(POST_COLUMNS, posts),
        f"{prefix}comments.csv": table(COMMENT_COLUMNS, comments),
        f"{prefix}saved_posts.csv": table(["id", "permalink"], [["sv1", permalink.format("sv1")]]),
        f"{prefix}saved_comments.csv": table(["id", "permalink"], [["sc1", permalink.format("p") + "sc1/"]]),
        f"{prefix}statistics.csv": table(
            ["statistic", "value"], [["account name", "ada"], ["registration date", "2015-03-04 05:06:07 UTC"]]
        ),
        f"{prefix}post_votes.csv": table(["id", "permalink", "direction"], []),
    }


@pytest.fixture(scope="module")
def sample():
    importer = importer_for("reddit")
    archive = archive_open(io.BytesIO(zip_bytes(members())))
    return importer, archive, list(importer.records(archive))


def test_posts_comments_and_saved_items_become_listing_things(sample):
    _, _, rows = sample
    assert [(r[0], r[1]["name"]) for r in rows] == [
        ("submitted", "t3_abc1"),
        ("submitted", "t3_abc2"),
        ("submitted", "t3_abc3"),
        ("submitted", "t3_abc4"),
        ("submitted", "t3_abc5"),
        ("comments", "t1_c1"),
        ("saved", "t1_sc1"),
        ("saved", "t3_sv1"),
    ]


def test_a_post_takes_the_api_shape_and_keeps_its_fullname_as_id(sample):
    _, _, rows = sample
    post = rows[0][1]
    assert post["kind"] == "t3" and post["title"] == "My cat" and post["subreddit"] == "pics"
    assert post["permalink"] == "/r/pics/comments/abc1/x/"
    assert post["created_utc"] == 1716006932.0 and post["gilded"] == 1 and post["is_self"] is False
    assert post["archive"] == {"ip": "10.0.0.1"}
    extractor = get_extractor("reddit")
    assert extractor.record_id("submitted", post) == "t3_abc1"
    assert extractor.record_timestamp("submitted", post) == "2024-05-18T04:35:32Z"
    selfpost = rows[3][1]
    assert selfpost["selftext"] == 'A long\nbody, with "quotes"' and selfpost["is_self"] is True


def test_a_comment_names_its_thread_and_parent(sample):
    _, _, rows = sample
    comment = rows[5][1]
    assert comment["link_id"] == "t3_abc1" and comment["parent_id"] == "t3_abc1"
    assert comment["body"] == "Thanks!" and comment["permalink"] == "/r/pics/comments/abc1/x/c1/"


def test_media_come_from_the_linked_urls_as_the_extractor_takes_them(sample):
    importer, _, rows = sample
    media = {r[1]["id"]: r[2] for r in rows if r[0] == "submitted"}
    image = media["abc1"][0]
    assert (image.member, image.url, image.kind, image.media_id) == (
        None,
        "https://i.redd.it/7z48j742cnrb1.jpg",
        "image",
        "abc1_image",
    )
    gif = media["abc2"][0]
    assert (gif.url, gif.kind, gif.ext) == ("https://i.imgur.com/AbCdEf.mp4", "video", "mp4")
    assert media["abc3"] == media["abc4"] == media["abc5"] == []
    assert any(n.startswith("1 posts link to Reddit-hosted videos or galleries") for n in importer.notes)


def test_a_row_that_cannot_be_read_is_skipped_with_its_reason(sample):
    importer, _, _ = sample
    assert importer.skipped == [{"resource": "comments", "record_id": "bad!", "reason": importer.skipped[0]["reason"]}]
    assert "not a Reddit id" in importer.skipped[0]["reason"]


def test_the_account_is_named_in_statistics(sample):
    importer, archive, _ = sample
    assert importer.account(archive) == {"name": "ada", "created_utc": 1425445567.0}


def test_a_data_request_is_detected_by_its_csv_files():
    importer = importer_for("reddit")
    assert importer.detect(list(members(prefix="")))
    # A posts.csv alone could be anyone's spreadsheet.
    assert not importer.detect(["posts.csv"])
    assert not importer.detect(["data/tweets.js"])


@pytest.mark.django_db
def test_an_import_leaves_linked_media_to_the_downloader(make_user, platforms, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    job = uploaded_job(make_user("ada"), "reddit", zip_bytes(members()))
    job_import(job)
    job.refresh_from_db()
    assert job.records_count == 8
    assert sorted(job.media_files.values_list("media_id", "status", "source_url")) == [
        ("abc1_image", MediaFile.Status.PENDING, "https://i.redd.it/7z48j742cnrb1.jpg"),
        ("abc2_video", MediaFile.Status.PENDING, "https://i.imgur.com/AbCdEf.mp4"),
    ]
    assert job.account == {"name": "ada", "created_utc": 1425445567.0}
    assert job.skipped_records[0]["record_id"] == "bad!"


def test_a_bare_parent_id_becomes_reddits_fullname_of_the_post_or_the_comment():
    permalink = "https://www.reddit.com/r/pics/comments/abc1/x/{}/"
    link = "https://www.reddit.com/r/pics/comments/abc1/x/"
    comments = [
        ["c1", permalink.format("c1"), "2024-05-18 04:35:32 UTC", "", "pics", "0", link, "abc1", "Top", ""],
        ["c2", permalink.format("c2"), "2024-05-18 04:36:32 UTC", "", "pics", "0", link, "c1", "Reply", ""],
        ["c3", permalink.format("c3"), "2024-05-18 04:37:32 UTC", "", "pics", "0", link, "t1_c2", "Deeper", ""],
        ["c4", permalink.format("c4"), "2024-05-18 04:38:32 UTC", "", "pics", "0", link, "", "No parent", ""],
    ]
    archive = archive_open(
        io.BytesIO(zip_bytes({"comments.csv": table(COMMENT_COLUMNS, comments), "statistics.csv": "statistic,value\n"}))
    )
    importer = importer_for("reddit")
    rows = list(importer.records(archive))
    parents = {r[1]["id"]: r[1].get("parent_id") for r in rows}
    assert parents == {"c1": "t3_abc1", "c2": "t1_c1", "c3": "t1_c2", "c4": None}
    assert {r[1]["link_id"] for r in rows} == {"t3_abc1"}


def everything(prefix: str = "export_ada_20250530/") -> dict:
    """A 2025 data request with the files beside posts and comments."""
    link = "https://www.reddit.com/r/pics/comments/{}/x/"
    return {
        **members(prefix, links=False),
        f"{prefix}post_votes.csv": table(["id", "permalink", "direction"], [["pv1", link.format("pv1"), "up"]]),
        f"{prefix}comment_votes.csv": table(
            ["id", "permalink", "direction"], [["cv1", link.format("pv1") + "cv1/", "down"]]
        ),
        f"{prefix}hidden_posts.csv": table(["id", "permalink"], [["hp1", link.format("hp1")]]),
        f"{prefix}subscribed_subreddits.csv": table(["subreddit"], [["pics"], ["AskHistorians"]]),
        f"{prefix}messages_archive.csv": table(
            ["id", "permalink", "thread_id", "date", "ip", "from", "to", "subject", "body"],
            [
                [
                    "m1",
                    "https://www.reddit.com/message/messages/m1",
                    "",
                    "2025-01-02 03:04:05 UTC",
                    "10.0.0.2",
                    "bo",
                    "ada",
                    "Hello",
                    "How are you?",
                ]
            ],
        ),  # fmt: skip
        f"{prefix}chat_history.csv": table(
            [
                "message_id",
                "created_at",
                "updated_at",
                "username",
                "message",
                "thread_parent_message_id",
                "channel_url",
                "subreddit",
                "channel_name",
                "conversation_type",
            ],
            [
                [
                    "ch1",
                    "2025-01-03 03:04:05 UTC",
                    "",
                    "bo",
                    "hi there",
                    "",
                    "sendbird_group_channel_1",
                    "",
                    "",
                    "direct",
                ]
            ],
        ),  # fmt: skip
        f"{prefix}ip_logs.csv": table(["date", "ip"], [["2025-01-01 00:00:00 UTC", "10.0.0.1"]]),
        f"{prefix}user_preferences.csv": table(["preference", "value"], [["lang", "en"]]),
        f"{prefix}checkfile.csv": table(["filename", "sha256"], [["posts.csv", "x"]]),
    }


@pytest.mark.django_db
def test_every_file_of_a_data_request_is_read_or_named(make_user, platforms, settings, tmp_path):
    found = everything()
    job = imported(make_user("ada"), "reddit", zip_bytes(found), settings=settings, tmp_path=tmp_path)
    got = sorted(
        (r.resource, r.external_id) for r in job.records.exclude(resource__in=["submitted", "comments", "saved"])
    )
    assert got == [
        ("chat_messages", "ch1"),
        ("hidden", "t3_hp1"),
        ("messages", "t4_m1"),
        ("subscriptions", "t5_AskHistorians"),
        ("subscriptions", "t5_pics"),
        ("votes", "t1_cv1"),
        ("votes", "t3_pv1"),
    ]
    message = job.records.get(resource="messages").data
    assert (message["subject"], message["body"], message["author"], message["dest"]) == (
        "Hello",
        "How are you?",
        "bo",
        "ada",
    )
    assert message["created_utc"] == 1735787045.0
    vote = job.records.get(external_id="t3_pv1").data
    assert vote["archive"] == {"direction": "up"} and vote["permalink"] == "/r/pics/comments/pv1/x/"
    prefix = "export_ada_20250530/"
    assert f"{prefix}ip_logs.csv: sign-in records, not content" in job.notes
    assert f"{prefix}user_preferences.csv: account settings and records Reddit keeps, not content" in job.notes
    assert f"{prefix}checkfile.csv: the data request's own bookkeeping" in job.notes
    named = {f"{prefix}ip_logs.csv", f"{prefix}user_preferences.csv", f"{prefix}checkfile.csv"}
    assert unaccounted(job, found) == set(found) - named


def test_messages_and_chats_can_be_left_out():
    importer = importer_for("reddit")
    importer.skip_sensitive = True
    archive = archive_open(io.BytesIO(zip_bytes(everything())))
    resources = {r[0] for r in importer.records(archive)}
    assert "messages" not in resources and "chat_messages" not in resources and "votes" in resources


@pytest.mark.django_db
def test_gold_received_is_read_and_the_headers_files_are_named(make_user, platforms, settings, tmp_path):
    """A 2025 data request also holds gold_received.csv, and *_headers.csv files: the rows of
    posts.csv, comments.csv and the messages files without their text."""
    prefix = "export_ada_20250530/"
    found = {
        **everything(),
        f"{prefix}gold_received.csv": table(
            ["content_link", "award", "amount", "date"],
            [["https://www.reddit.com/r/pics/comments/abc1/x/", "gold", "1", "2025-02-01 00:00:00 UTC"]],
        ),
        f"{prefix}post_headers.csv": table(POST_COLUMNS[:-1], []),
        f"{prefix}comment_headers.csv": table(COMMENT_COLUMNS[:-2], []),
        f"{prefix}message_headers.csv": table(["id", "permalink", "date"], []),
        f"{prefix}messages_archive_headers.csv": table(["id", "permalink", "date"], []),
    }
    job = imported(make_user("ada"), "reddit", zip_bytes(found), settings=settings, tmp_path=tmp_path)
    gold = job.records.get(resource="gilded").data
    assert gold["archive"]["award"] == "gold" and gold["created_utc"] == 1738368000.0
    headers = [f"{prefix}{n}_headers.csv" for n in ("post", "comment", "message", "messages_archive")]
    for name in headers:
        reason = "the same items as the file of the same name without `_headers`, without their text"
        assert f"{name}: {reason}" in job.notes
    named = {f"{prefix}ip_logs.csv", f"{prefix}user_preferences.csv", f"{prefix}checkfile.csv", *headers}
    assert unaccounted(job, found) == set(found) - named
