import io
import json

import pytest

from exports.importing import job_import
from exports.models import MediaFile
from platforms.importer import archive_open
from platforms.registry import get_importer as importer_for
from tests.fixtures.archives import FACEBOOK_POSTS, imported, mojibake, unaccounted, uploaded_job, zip_bytes

PHOTO = "posts/media/Mobiloverforsler_uqsXWfBGvQ/28055_498092266878953_310909280_n_498092266878953.jpg"
VIDEO = "posts/media/videos/1199405_10200191443018829_7953_n_2022020720200.mp4"


def sample_members(*, skip: tuple[str, ...] = (), posters: bool = True) -> dict:
    """The real posts file (older layout) with a file for every photo and video it names; without
    `posters`, the videos' poster URLs are left out (nothing to fetch)."""
    from platforms.sandbox.media import image, video

    posts = json.loads(FACEBOOK_POSTS.read_text())
    if not posters:
        for media in (d.get("media") or {} for p in posts for a in p.get("attachments", []) for d in a["data"]):
            media.pop("thumbnail", None)
    members: dict = {"posts/your_posts_1.json": FACEBOOK_POSTS.read_bytes() if posters else json.dumps(posts)}
    for uri in _uris(posts):
        if uri in skip:
            continue
        members[uri] = video(uri, seconds=0.25, width=64, height=48) if uri.endswith(".mp4") else image(uri)
    return members


def _uris(value) -> list[str]:
    if isinstance(value, dict):
        found = [value["uri"]] if isinstance(value.get("uri"), str) and not value["uri"].startswith("http") else []
        return found + [u for v in value.values() for u in _uris(v)]
    if isinstance(value, list):
        return [u for v in value for u in _uris(v)]
    return []


def read(members: dict):
    importer = importer_for("facebook")
    archive = archive_open(io.BytesIO(zip_bytes(members)))
    return importer, archive, list(importer.records(archive))


@pytest.fixture(scope="module")
def sample():
    return read(sample_members())


def test_every_post_of_the_real_archive_is_read(sample):
    importer, _, rows = sample
    assert importer.skipped == []
    assert [r[0] for r in rows] == ["posts"] * 14


def test_the_mojibake_is_repaired(sample):
    _, _, rows = sample
    first = rows[0][1]
    assert first["story"] == "Malou Elmelund Landsgaard har tilføjet et nyt billede."
    assert first["attachments"]["data"][0]["title"] == "Mobiloverførsler"
    text = json.dumps([r[1] for r in rows], ensure_ascii=False)
    assert "ø" in text and "æ" in text and "Ã" not in text


def test_a_post_takes_the_graph_api_shape(sample):
    _, _, rows = sample
    post = rows[0][1]
    assert post["created_time"] == "2012-12-06T14:45:14+0000"
    assert post["message"] == "Sne sne!"
    assert post["id"].startswith("dyi_1354805114_")
    attachment = post["attachments"]["data"][0]
    assert attachment["media_type"] == "photo" and attachment["target"] == {"id": "498092266878953"}
    assert attachment["archive_uri"] == PHOTO
    link = next(r[1] for r in rows if r[1]["id"].startswith("dyi_1331324505_"))
    assert link["attachments"]["data"] == [{"type": "share", "url": "http://autoinsurance4all.info/video.php?id=526"}]


def test_post_ids_are_stable_across_imports(sample):
    _, _, again = read(sample_members())
    assert [r[1]["id"] for r in again] == [r[1]["id"] for r in sample[2]]


def test_photos_and_videos_carry_the_graph_ids_at_the_end_of_their_file_names(sample):
    _, archive, rows = sample
    media = {m.media_id: m for r in rows for m in r[2]}
    photo = media["498092266878953"]
    assert (photo.kind, photo.member, photo.record_id) == ("image", PHOTO, rows[0][1]["id"])
    assert archive.exists(photo.member)
    # Two files of one id: the second keeps its own media id.
    assert {"1251667781858", "1251667781858_2"} <= set(media)
    video = media["2022020720200"]
    assert (video.kind, video.member, video.ext) == ("video", VIDEO, "mp4")
    poster = media["2022020720200_thumb"]
    assert poster.member is None and poster.url.startswith("https://interncache-eag.fbcdn.net/")
    # A note's photos belong to the post that holds the note.
    assert "10215011770037742" in media


def test_the_newer_layout_inside_a_folder_is_read_with_albums_and_videos():
    from platforms.sandbox.media import image

    base = "facebook-alice-2024-05-30/your_facebook_activity/posts"
    photo_uri = "your_facebook_activity/posts/media/Summer_abc/1_2_3_n_555.jpg"
    members = {
        f"{base}/your_posts__check_ins__photos_and_videos_1.json": json.dumps(
            [
                {
                    "timestamp": 1717000000,
                    "data": [{"post": "Sommer p\u00c3\u00a5 stranden"}],
                    "attachments": [{"data": [{"media": {"uri": photo_uri, "creation_timestamp": 1717000000}}]}],
                }
            ]
        ),
        f"{base}/album/0.json": json.dumps(
            {"name": "Summer", "photos": [{"uri": photo_uri, "creation_timestamp": 1717000000, "description": "Sea"}]}
        ),
        f"{base}/your_videos.json": json.dumps(
            {"videos_v2": [{"uri": "your_facebook_activity/posts/media/videos/9_n_777.mp4", "creation_timestamp": 1}]}
        ),
        "facebook-alice-2024-05-30/" + photo_uri: image("summer"),
        "facebook-alice-2024-05-30/personal_information/profile_information/profile_information.json": json.dumps(
            {"profile_v2": {"name": {"full_name": "Bj\u00c3\u00b8rn"}, "username": "bjorn"}}
        ),
    }
    importer, archive, rows = read(members)
    assert importer.detect(list(members))
    assert [(r[0], r[1]["id"]) for r in rows][:2] == [("photos", "555"), ("videos", "777")]
    assert rows[0][1]["album"] == {"name": "Summer"} and rows[0][1]["name"] == "Sea"
    assert rows[0][2][0].member == "facebook-alice-2024-05-30/" + photo_uri
    assert rows[2][1]["message"] == "Sommer på stranden"
    assert rows[2][2][0].media_id == "555"
    assert importer.account(archive) == {"name": "Bjørn", "username": "bjorn"}


def test_a_post_that_cannot_be_read_is_skipped_with_its_reason():
    importer, _, rows = read({"posts/your_posts_1.json": json.dumps([{"data": []}, {"timestamp": 5, "data": []}])})
    assert len(rows) == 1
    assert importer.skipped[0]["resource"] == "posts" and "KeyError" in importer.skipped[0]["reason"]


def test_a_facebook_archive_is_detected_by_its_posts_or_activity_folder():
    importer = importer_for("facebook")
    assert importer.detect(["posts/your_posts_1.json"])
    assert importer.detect(["x/your_facebook_activity/comments_and_reactions/comments.json"])
    assert not importer.detect(["data/tweets.js"])


@pytest.mark.django_db
def test_an_import_stores_what_the_archive_holds_and_lists_what_it_lacks(make_user, platforms, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    owner = make_user("bjorn")
    job = uploaded_job(owner, "facebook", zip_bytes(sample_members(skip=(PHOTO,))))
    job_import(job)
    job.refresh_from_db()
    files = {m.media_id: m for m in job.media_files.all()}
    missing = files["498092266878953"]
    assert (missing.status, missing.last_error) == (
        "failed",
        f"{missing.extra['missing_from_archive']}: not in the archive and no URL to fetch it from",
    )
    assert missing.extra["missing_from_archive"] == PHOTO
    assert files["2022020720200"].status == MediaFile.Status.DONE
    assert files["2022020720200"].content_type == "video/mp4"
    assert files["2022020720200_thumb"].status == MediaFile.Status.PENDING
    assert {m.status for k, m in files.items() if k not in ("498092266878953", "2022020720200_thumb")} == {"done"}
    assert job.records.filter(data__story__icontains="tilføjet").count() == 2
    assert "archive covers 2009-05-21 to 2020-01-04" in job.notes
    assert any(n.startswith("1 files the archive's data names are not in it") for n in job.notes)


def test_every_form_of_media_file_name_gives_the_platforms_id_and_one_file_is_one_item():
    from platforms.sandbox.media import image, video

    top = "facebook-ada-2025-01-02/"
    posts = "your_facebook_activity/posts"
    clip = video("fbclip", seconds=0.2, width=32, height=32)
    members = {
        f"{top}{posts}/album/0.json": json.dumps(
            {
                "name": "Trip",
                "photos": [
                    {"uri": f"{posts}/media/Trip_a1/120_0_o_10158000000000001.jpg", "creation_timestamp": 1700000000},
                    {"uri": f"{posts}/media/Trip_a1/10158000000000002.jpg", "creation_timestamp": 1700000001},
                ],
            }
        ),
        f"{top}{posts}/your_videos.json": json.dumps(
            {"videos_v2": [{"uri": f"{posts}/media/videos/10158000000000003.mp4", "creation_timestamp": 1700000002}]}
        ),
        f"{top}{posts}/your_posts__check_ins__photos_and_videos_1.json": json.dumps(
            [
                {
                    "timestamp": 1700000003,
                    "data": [{"post": "Watch this"}],
                    "attachments": [
                        {"data": [{"media": {"uri": f"{posts}/media/videos/10158000000000003.mp4"}}]},
                        {"data": [{"media": {"uri": f"{posts}/media/Trip_a1/gone_n_10158000000000009.jpg"}}]},
                    ],
                }
            ]
        ),
        f"{top}{posts}/media/Trip_a1/120_0_o_10158000000000001.jpg": image("o-form"),
        f"{top}{posts}/media/Trip_a1/10158000000000002.jpg": image("album-form"),
        f"{top}{posts}/media/videos/10158000000000003.mp4": clip,
    }
    _, _, rows = read(members)
    ids = [(r[0], r[1]["id"]) for r in rows]
    assert ids[:3] == [
        ("photos", "10158000000000001"),
        ("photos", "10158000000000002"),
        ("videos", "10158000000000003"),
    ]
    post = rows[3]
    # The post's video is the video its own file names, not a made-up id of the post's.
    assert [m.media_id for m in post[2]] == ["10158000000000003", "10158000000000009"]
    assert post[2][1].member == f"{posts}/media/Trip_a1/gone_n_10158000000000009.jpg"


@pytest.mark.django_db
def test_a_video_two_records_name_is_one_media_file_and_an_absent_file_is_named(
    make_user, platforms, settings, tmp_path
):
    from platforms.sandbox.media import video

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    posts = "your_facebook_activity/posts"
    clip = video("fbclip2", seconds=0.2, width=32, height=32)
    members = {
        f"{posts}/your_videos.json": json.dumps(
            {"videos_v2": [{"uri": f"{posts}/media/videos/10158000000000003.mp4", "creation_timestamp": 1700000002}]}
        ),
        f"{posts}/your_posts__check_ins__photos_and_videos_1.json": json.dumps(
            [
                {
                    "timestamp": 1700000003,
                    "attachments": [
                        {"data": [{"media": {"uri": f"{posts}/media/videos/10158000000000003.mp4"}}]},
                        {"data": [{"media": {"uri": f"{posts}/media/album_x/gone_n_10158000000000009.jpg"}}]},
                    ],
                }
            ]
        ),
        f"{posts}/media/videos/10158000000000003.mp4": clip,
    }
    job = uploaded_job(make_user("ada"), "facebook", zip_bytes(members))
    job_import(job)
    files = {m.media_id: m for m in job.media_files.all()}
    assert set(files) == {"10158000000000003", "10158000000000009"}
    assert files["10158000000000003"].status == MediaFile.Status.DONE
    assert files["10158000000000003"].record_ids == ["10158000000000003", job.records.get(resource="posts").external_id]
    assert files["10158000000000009"].last_error == (
        f"{posts}/media/album_x/gone_n_10158000000000009.jpg: not in the archive and no URL to fetch it from"
    )


def activity_members() -> dict:
    """A 2024 archive with the activity files besides posts, each as Meta writes it."""
    from platforms.sandbox.media import image

    top = "facebook-ada-20240601/"
    act = "your_facebook_activity"
    inbox = f"{act}/messages/inbox/bo_123"
    return {
        f"{top}{act}/posts/your_posts__check_ins__photos_and_videos_1.json": json.dumps(
            [
                {
                    "timestamp": 1700000000,
                    "data": [{"post": mojibake("Før turen")}],
                    "attachments": [{"data": [{"media": {"uri": f"{act}/posts/media/Trip/10158000000000001.jpg"}}]}],
                }
            ]
        ),
        f"{top}{act}/posts/media/Trip/10158000000000001.jpg": image("trip"),
        f"{top}{act}/posts/media/Trip/10158000000000099.jpg": image("orphan"),
        f"{top}{act}/comments_and_reactions/comments.json": json.dumps(
            {
                "comments_v2": [
                    {
                        "timestamp": 1700000100,
                        "data": [{"comment": {"timestamp": 1700000100, "comment": mojibake("Très bien"), "author": "Ada"}}],
                        "title": "Ada commented on Bo's post.",
                    }
                ]
            }
        ),
        f"{top}{act}/comments_and_reactions/likes_and_reactions_1.json": json.dumps(
            [{"timestamp": 1700000200, "data": [{"reaction": {"reaction": "LIKE", "actor": "Ada"}}], "title": "Ada likes Bo's photo."}]
        ),
        f"{top}{act}/saved_items_and_collections/saved_items_and_collections.json": json.dumps(
            {"saves_v2": [{"timestamp": 1700000300, "title": "Ada saved a link.", "attachments": [{"data": [{"external_context": {"url": "https://example.com/a"}}]}]}]}
        ),
        f"{top}{act}/groups/group_posts_and_comments.json": json.dumps(
            {"group_posts_v2": [{"timestamp": 1700000400, "data": [{"post": mojibake("Hej gruppen ø")}], "title": "Ada posted in Knitting."}]}
        ),
        f"{top}{act}/events/your_event_responses.json": json.dumps(
            {"event_responses_v2": {"events_joined": [{"name": "Party", "start_timestamp": 1700000500}], "events_declined": [{"name": "Meeting", "start_timestamp": 1700000600}]}}
        ),
        f"{top}{inbox}/message_1.json": json.dumps(
            {
                "participants": [{"name": "Bo"}, {"name": mojibake("Adé")}],
                "messages": [
                    {"sender_name": "Bo", "timestamp_ms": 1700000700000, "content": mojibake("Hé 👋"),
                     "photos": [{"uri": f"{inbox}/photos/10158000000000077.jpg", "creation_timestamp": 1700000700}]},
                    {"sender_name": mojibake("Adé"), "timestamp_ms": 1700000800000,
                     "videos": [{"uri": f"{inbox}/videos/10158000000000078.mp4", "creation_timestamp": 1700000800}]},
                ],
                "title": "Bo",
            }
        ),
        f"{top}{inbox}/photos/10158000000000077.jpg": image("dm"),
        f"{top}security_and_login_information/logins_and_logouts.json": json.dumps({"account_accesses_v2": []}),
        f"{top}personal_information/profile_information/profile_information.json": json.dumps(
            {"profile_v2": {"name": {"full_name": mojibake("Adé")}, "username": "ada"}}
        ),
    }  # fmt: skip


@pytest.mark.django_db
def test_every_activity_file_is_read_and_every_other_member_named(make_user, platforms, settings, tmp_path):
    members = activity_members()
    job = imported(make_user("ada"), "facebook", zip_bytes(members), settings=settings, tmp_path=tmp_path)
    records = {(r.resource, r.data.get("message") or r.data["archive"].get("name")) for r in job.records.all()}
    assert records == {
        ("posts", "Før turen"),
        ("comments", "Ada commented on Bo's post."),
        ("reactions", "Ada likes Bo's photo."),
        ("saved", "Ada saved a link."),
        ("group_posts", "Ada posted in Knitting."),
        ("events", "Party"),
        ("events", "Meeting"),
        ("messages", "Hé 👋"),
        ("messages", None),
    }
    # The mojibake is repaired in every string, not only captions: names, comments, participants.
    comment = job.records.get(resource="comments").data
    assert comment["archive"]["data"][0]["comment"]["comment"] == "Très bien"
    message = job.records.filter(resource="messages").order_by("timestamp").last().data
    assert message["archive"]["sender_name"] == "Adé" and message["archive"]["context"]["participants"] == ["Bo", "Adé"]
    assert job.account["name"] == "Adé"
    files = {m.media_id: m for m in job.media_files.all()}
    assert {k: m.status for k, m in files.items()} == {
        "10158000000000001": "done",
        "10158000000000077": "done",
        "10158000000000078": "failed",
    }
    assert files["10158000000000078"].last_error == (
        "your_facebook_activity/messages/inbox/bo_123/videos/10158000000000078.mp4: "
        "not in the archive and no URL to fetch it from"
    )
    top = "facebook-ada-20240601/"
    assert f"{top}security_and_login_information/logins_and_logouts.json: sign-in records, not content" in job.notes
    assert (
        f"{top}your_facebook_activity/posts/media/Trip/10158000000000099.jpg: "
        "a file no data file of the archive refers to"
    ) in job.notes
    assert unaccounted(job, members) == {n for n in members if n.endswith(".json") and "security" not in n}


@pytest.mark.django_db
def test_live_videos_are_read_with_their_files_and_an_absent_one_is_named(make_user, platforms, settings, tmp_path):
    """A 2024 archive's live_videos/live_videos.json, its videos beside it named by Facebook's
    own hash (no id in the name), one of them absent."""
    import hashlib

    from platforms.sandbox.media import video

    top = "facebook-ada-20240601/"
    live = "your_facebook_activity/live_videos"
    clip = video("fblive", seconds=0.2, width=32, height=32)
    members = {
        f"{top}{live}/live_videos.json": json.dumps(
            {"live_videos_v2": [
                {"timestamp": 1700000900, "uri": f"{live}/AQMxLiveOne.mp4", "title": "", "description": "",
                 "message": mojibake("Morgentræning")},
                {"timestamp": 1700001000, "uri": f"{live}/AQMxLiveTwo.mp4", "title": "Evening", "message": ""},
            ]}
        ),
        f"{top}{live}/AQMxLiveOne.mp4": clip,
        f"{top}personal_information/profile_information/profile_information.json": json.dumps(
            {"profile_v2": {"name": {"full_name": "Ada"}, "username": "ada"}}
        ),
        f"{top}your_facebook_activity/facebook_marketplace/items_sold.json": json.dumps({"items_selling_v2": []}),
    }  # fmt: skip
    job = imported(make_user("ada"), "facebook", zip_bytes(members), settings=settings, tmp_path=tmp_path)
    records = sorted(r.data.get("message") for r in job.records.filter(resource="live_videos"))
    assert records == ["Evening", "Morgentræning"]
    files = list(job.media_files.order_by("timestamp"))
    assert [(f.kind, f.status) for f in files] == [("video", "done"), ("video", "failed")]
    assert files[0].sha256 == hashlib.sha256(clip).hexdigest()
    assert files[1].last_error == f"{live}/AQMxLiveTwo.mp4: not in the archive and no URL to fetch it from"
    assert (
        f"{top}your_facebook_activity/facebook_marketplace/items_sold.json: not a kind of content this import reads"
    ) in job.notes
    assert unaccounted(job, members) == {
        f"{top}{live}/live_videos.json",
        f"{top}personal_information/profile_information/profile_information.json",
    }


def test_likes_and_reactions_files_of_every_year_are_read():
    """Reactions sit in likes_and_reactions/posts_and_comments.json and pages.json (2019-2024, also
    under your_facebook_activity/), and in comments_and_reactions/likes_and_reactions_1.json (2024+)."""
    act = "your_facebook_activity"
    found = {
        f"{act}/likes_and_reactions/posts_and_comments.json": json.dumps(
            {"reactions_v2": [{"timestamp": 1600000000, "title": "Ada likes Bo's post.",
                               "data": [{"reaction": {"reaction": "LIKE", "actor": "Ada"}}]}]}
        ),
        f"{act}/likes_and_reactions/pages.json": json.dumps({"page_likes_v2": [{"name": "Knitting", "timestamp": 1600000100}]}),
        f"{act}/comments_and_reactions/likes_and_reactions_1.json": json.dumps(
            [{"timestamp": 1700000000, "title": "Ada reacted to Cy's photo.", "data": [{"reaction": {"reaction": "LOVE"}}]}]
        ),
    }  # fmt: skip
    importer = importer_for("facebook")
    archive = archive_open(io.BytesIO(zip_bytes(found)))
    rows = list(importer.records(archive))
    assert sorted((r[0], r[1]["message"]) for r in rows) == [
        ("reactions", "Ada likes Bo's post."),
        ("reactions", "Ada reacted to Cy's photo."),
        ("reactions", "Knitting"),
    ]
    assert importer.unread(archive.namelist()) == {}


def test_the_html_form_of_meta_s_archives_is_refused_with_the_word_to_download_json():
    """Meta's default format is HTML: the same folders, pages in place of JSON. Refused, not imported
    empty with every page named as a viewer's page."""
    from platforms.importer import WrongPlatform, archive_check_platform

    for slug, found in (
        ("facebook", {
            "your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.html": "<html></html>",
            "your_facebook_activity/posts/media/Trip/10158000000000001.jpg": b"\xff\xd8\xff",
            "personal_information/profile_information/profile_information.html": "<html></html>",
        }),
        ("instagram", {
            "your_instagram_activity/media/posts_1.html": "<html></html>",
            "media/posts/202501/17950000000000001.jpg": b"\xff\xd8\xff",
        }),
    ):  # fmt: skip
        archive = archive_open(io.BytesIO(zip_bytes(found)))
        with pytest.raises(WrongPlatform) as refused:
            archive_check_platform(archive, slug)
        assert "JSON format, not HTML" in refused.value.message
