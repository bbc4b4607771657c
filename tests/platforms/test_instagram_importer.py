import io
import json

import pytest

from exports.importing import job_import
from exports.models import MediaFile
from platforms.importer import archive_open
from platforms.registry import get_extractor
from platforms.registry import get_importer as importer_for
from tests.fixtures.archives import imported, mojibake, unaccounted, uploaded_job, zip_bytes

ROOT = "instagram-ada-2024-05-30/your_instagram_activity"


def members(*, with_files: bool = True) -> dict:
    from platforms.sandbox.media import image, video

    posts = [
        {  # one photo: the caption and time sit on the file
            "media": [
                {
                    "uri": "media/posts/202401/17940060624158613.jpg",
                    "creation_timestamp": 1704067200,
                    "title": mojibake("Café ☕"),
                    "media_metadata": {"photo_metadata": {"exif_data": [{"latitude": 48.86, "longitude": 2.34}]}},
                    "cross_post_source": {"source_app": "FB"},
                }
            ]
        },
        {  # a carousel of a photo and a video, in an older file name form
            "media": [
                {"uri": "media/posts/202402/1_2_3_n_17900000000000001.jpg", "creation_timestamp": 1706745600},
                {"uri": "media/posts/202402/17900000000000002.mp4", "creation_timestamp": 1706745600},
            ],
            "title": "Two things",
            "creation_timestamp": 1706745601,
        },
    ]
    stories = {"ig_stories": [{"uri": "media/stories/202403/17911111111111111.mp4", "creation_timestamp": 1709251200}]}
    reels = {
        "ig_reels_media": [
            {"media": [{"uri": "media/reels/202404/17922222222222222.mp4", "creation_timestamp": 1711929600}]}
        ]
    }
    found = {
        f"{ROOT}/content/posts_1.json": json.dumps(posts),
        f"{ROOT}/content/stories.json": json.dumps(stories),
        f"{ROOT}/content/reels.json": json.dumps(reels),
        "instagram-ada-2024-05-30/personal_information/personal_information/personal_information.json": json.dumps(
            {"profile_user": [{"string_map_data": {"Username": {"value": "ada"}, "Name": {"value": mojibake("Adä")}}}]}
        ),
    }
    if with_files:
        for uri in (
            "media/posts/202401/17940060624158613.jpg",
            "media/posts/202402/1_2_3_n_17900000000000001.jpg",
        ):
            found[f"{ROOT}/{uri}"] = image(uri)
        for uri in (
            "media/posts/202402/17900000000000002.mp4",
            "media/stories/202403/17911111111111111.mp4",
            "media/reels/202404/17922222222222222.mp4",
        ):
            found[f"{ROOT}/{uri}"] = video(uri, seconds=0.25, width=64, height=48)
    return found


def read(archive_members: dict):
    importer = importer_for("instagram")
    archive = archive_open(io.BytesIO(zip_bytes(archive_members)))
    return importer, archive, list(importer.records(archive))


@pytest.fixture(scope="module")
def sample():
    return read(members())


def test_posts_reels_and_stories_become_media_and_stories_records(sample):
    importer, _, rows = sample
    assert importer.skipped == []
    assert [(r[0], r[1]["id"]) for r in rows] == [
        ("media", "17940060624158613"),
        ("media", "carousel_17900000000000001"),
        ("media", "17922222222222222"),
        ("stories", "17911111111111111"),
    ]


def test_a_post_takes_the_api_shape_with_its_caption_repaired(sample):
    _, _, rows = sample
    photo, carousel, reel, story = (r[1] for r in rows)
    assert photo["caption"] == "Café ☕"
    assert (photo["media_type"], photo["media_product_type"]) == ("IMAGE", "FEED")
    assert photo["timestamp"] == "2024-01-01T00:00:00+0000"
    assert carousel["media_type"] == "CAROUSEL_ALBUM" and carousel["caption"] == "Two things"
    assert [c["id"] for c in carousel["children"]["data"]] == ["17900000000000001", "17900000000000002"]
    assert [c["media_type"] for c in carousel["children"]["data"]] == ["IMAGE", "VIDEO"]
    assert (reel["media_type"], reel["media_product_type"]) == ("VIDEO", "REELS")
    assert (story["media_product_type"], story["media_type"]) == ("STORY", "VIDEO")


def test_media_ids_are_the_api_ids_and_a_story_s_starts_with_story(sample):
    _, archive, rows = sample
    media = [m for r in rows for m in r[2]]
    assert [m.media_id for m in media] == [
        "17940060624158613",
        "17900000000000001",
        "17900000000000002",
        "17922222222222222",
        "story_17911111111111111",
    ]
    assert all(archive.exists(m.member) for m in media)
    assert [m.kind for m in media] == ["image", "image", "video", "video", "video"]
    assert media[1].extra == {"media_type": "IMAGE", "carousel_id": "carousel_17900000000000001", "position": 0}
    assert media[0].extra["latitude"] == 48.86
    # The extractor's record ids and timestamps work on the imported records.
    extractor = get_extractor("instagram")
    assert extractor.record_timestamp("media", rows[0][1]) == "2024-01-01T00:00:00Z"


def test_files_outside_the_activity_folder_and_missing_files_are_resolved_or_named(sample):
    archive_members = members(with_files=False)
    archive_members["media/posts/202401/17940060624158613.jpg"] = b"\xff\xd8\xff\xe0 old layout"
    _, archive, rows = read(archive_members)
    media = [m for r in rows for m in r[2]]
    assert media[0].member == "media/posts/202401/17940060624158613.jpg"
    assert media[1].member == "media/posts/202402/1_2_3_n_17900000000000001.jpg"
    assert not archive.exists(media[1].member)


def test_the_profile_comes_from_personal_information(sample):
    importer, archive, _ = sample
    assert importer.account(archive) == {"username": "ada", "name": "Adä"}


def test_a_post_without_file_names_is_skipped_with_its_reason():
    importer, _, rows = read({"content/posts_1.json": json.dumps([{"media": [{}]}, {"media": [{"uri": "a/1.jpg"}]}])})
    assert len(rows) == 1
    assert importer.skipped[0]["resource"] == "media" and "file names" in importer.skipped[0]["reason"]


def test_an_instagram_archive_is_detected_and_not_taken_for_facebook():
    importer = importer_for("instagram")
    assert importer.detect(["your_instagram_activity/media/posts_1.json"])
    assert importer.detect(["content/posts_1.json"])
    assert not importer.detect(["posts/your_posts_1.json"])
    assert not importer_for("facebook").detect(list(members(with_files=False)))


@pytest.mark.django_db
def test_an_import_stores_photos_and_videos_and_records_the_profile(make_user, platforms, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    job = uploaded_job(make_user("ada"), "instagram", zip_bytes(members()))
    job_import(job)
    job.refresh_from_db()
    files = list(job.media_files.all())
    assert len(files) == 5 and {f.status for f in files} == {MediaFile.Status.DONE}
    assert sorted(f.content_type for f in files) == ["image/jpeg"] * 2 + ["video/mp4"] * 3
    assert job.account == {"username": "ada", "name": "Adä"}
    assert job.records.filter(resource="stories").count() == 1
    assert "archive covers 2024-01-01 to 2024-04-01" in job.notes


def test_a_video_named_without_an_extension_is_known_by_its_bytes_and_listed_when_absent():
    from platforms.sandbox.media import video

    posts = [
        {"media": [{"uri": "media/posts/202405/17933333333333333", "creation_timestamp": 1714521600}]},
        {"media": [{"uri": "media/posts/202405/17944444444444444", "creation_timestamp": 1714521601}]},
    ]
    clip = video("igclip", seconds=0.2, width=32, height=32)
    found = {
        f"{ROOT}/media/posts_1.json": json.dumps(posts),  # the 2025 layout: media/, not content/
        "instagram-ada-2025-01-02/media/posts/202405/17933333333333333": clip,
    }
    found = {k.replace("2024-05-30", "2025-01-02"): v for k, v in found.items()}
    importer = importer_for("instagram")
    archive = archive_open(io.BytesIO(zip_bytes(found)))
    rows = list(importer.records(archive))
    present, absent = rows[0], rows[1]
    assert present[1]["media_type"] == "VIDEO"
    assert (present[2][0].kind, present[2][0].ext) == ("video", "mp4")
    assert present[2][0].member == "instagram-ada-2025-01-02/media/posts/202405/17933333333333333"
    # Absent: still a media item, named, so the import lists it as missing.
    assert (absent[2][0].media_id, absent[2][0].member) == ("17944444444444444", "media/posts/202405/17944444444444444")
    assert not archive.exists(absent[2][0].member)


def activity_members() -> dict:
    """A 2025 archive (media/ in place of content/) with the activity files besides posts."""
    from platforms.sandbox.media import image, video

    top = "instagram-ada-20250102/"
    act = "your_instagram_activity"
    inbox = f"{act}/messages/inbox/bo_17841400000000000"
    return {
        f"{top}{act}/media/posts_1.json": json.dumps(
            [{"media": [{"uri": "media/posts/202501/17950000000000001.jpg", "creation_timestamp": 1735800000, "title": "Snow"}]}]
        ),
        f"{top}{act}/media/profile_photos.json": json.dumps(
            {"ig_profile_picture": [{"uri": "media/profile/202501/17955555555555555.jpg", "creation_timestamp": 1735800050, "title": ""}]}
        ),
        f"{top}{act}/comments/post_comments_1.json": json.dumps(
            [{"media_list_data": [{"uri": ""}], "string_map_data": {"Comment": {"value": mojibake("Schön")}, "Media Owner": {"value": "bo"}, "Time": {"timestamp": 1735800100}}}]
        ),
        f"{top}{act}/likes/liked_posts.json": json.dumps(
            {"likes_media_likes": [{"title": "bo", "string_list_data": [{"href": "https://www.instagram.com/p/x/", "value": "👍", "timestamp": 1735800200}]}]}
        ),
        f"{top}{act}/saved/saved_posts.json": json.dumps(
            {"saved_saved_media": [{"title": "cy", "string_map_data": {"Saved on": {"href": "https://www.instagram.com/p/y/", "timestamp": 1735800300}}}]}
        ),
        f"{top}{inbox}/message_1.json": json.dumps(
            {
                "participants": [{"name": "bo"}, {"name": "ada"}],
                "messages": [{"sender_name": "bo", "timestamp_ms": 1735800400000, "content": mojibake("Grüße"),
                              "videos": [{"uri": f"{inbox}/videos/17966666666666666", "creation_timestamp": 1735800400}]}],
                "title": "bo",
            }
        ),
        f"{top}{act}/media/posts/202501/17950000000000001.jpg": image("snow"),
        f"{top}{act}/media/profile/202501/17955555555555555.jpg": image("me"),
        f"{top}{inbox}/videos/17966666666666666": video("igdm", seconds=0.2, width=32, height=32),
        f"{top}connections/followers_and_following/followers_1.json": json.dumps([]),
    }  # fmt: skip


@pytest.mark.django_db
def test_every_activity_file_is_read_and_every_other_member_named(make_user, platforms, settings, tmp_path):
    members = activity_members()
    job = imported(make_user("ada"), "instagram", zip_bytes(members), settings=settings, tmp_path=tmp_path)
    assert sorted(job.records.values_list("resource", flat=True)) == [
        "comments", "likes", "media", "messages", "profile_photos", "saved"
    ]  # fmt: skip
    comment = job.records.get(resource="comments").data
    assert comment["archive"]["string_map_data"]["Comment"]["value"] == "Schön"
    assert comment["created_time"] == "2025-01-02T06:41:40+0000"
    assert job.records.get(resource="messages").data["message"] == "Grüße"
    files = {m.media_id: (m.kind, m.ext, m.status) for m in job.media_files.all()}
    assert files == {
        "17950000000000001": ("image", "jpg", "done"),
        "17955555555555555": ("image", "jpg", "done"),
        "17966666666666666": ("video", "mp4", "done"),
    }
    assert (
        "instagram-ada-20250102/connections/followers_and_following/followers_1.json: "
        "your list of followers and followed accounts, not content"
    ) in job.notes
    assert unaccounted(job, members) == {n for n in members if n.endswith(".json") and "connections" not in n}


def threads_members() -> dict:
    """A 2024 archive with Threads' posts, and a profile photo only personal_information.json
    names (no profile_photos.json), beside the folders that are not content."""
    from platforms.sandbox.media import image

    top = "instagram-ada-20240901/"
    act = f"{top}your_instagram_activity"
    personal = {
        "profile_user": [
            {
                "media_map_data": {"Profile Photo": {"uri": "media/profile/202408/17980000000000001.jpg",
                                                     "creation_timestamp": 1725000000, "title": ""}},
                "string_map_data": {"Username": {"value": "ada"}, "Name": {"value": "Ada"}},
            }
        ]
    }  # fmt: skip
    threads = {
        "text_post_app_text_posts": [
            {"media": [{"uri": "media/threads/202408/17970000000000001.jpg", "creation_timestamp": 1725000100,
                        "title": mojibake("Hallo Threads ✨")},
                       {"uri": "media/threads/202408/17970000000000002.mp4", "creation_timestamp": 1725000100,
                        "title": ""}],
             "title": mojibake("Hallo Threads ✨")},
        ]
    }  # fmt: skip
    return {
        f"{act}/content/posts_1.json": json.dumps(
            [{"media": [{"uri": "media/posts/202408/17950000000000009.jpg", "creation_timestamp": 1725000200}]}]
        ),
        f"{act}/threads/threads_and_replies.json": json.dumps(threads),
        f"{act}/threads/threads_viewed.json": json.dumps({"text_post_app_threads_viewed": []}),
        f"{top}personal_information/personal_information/personal_information.json": json.dumps(personal),
        f"{top}media/posts/202408/17950000000000009.jpg": image("post"),
        f"{top}media/threads/202408/17970000000000001.jpg": image("thread"),
        f"{top}media/profile/202408/17980000000000001.jpg": image("me"),
        f"{top}connections/followers_and_following/following.json": json.dumps({"relationships_following": []}),
        f"{top}logged_information/link_history/link_history.json": json.dumps([]),
        f"{top}ads_information/ads_and_topics/ads_viewed.json": json.dumps([]),
        f"{top}security_and_login_information/login_and_profile_creation/login_activity.json": json.dumps([]),
        f"{top}preferences/settings/use_cross-app_messaging.json": json.dumps([]),
    }


@pytest.mark.django_db
def test_threads_posts_and_the_profile_photo_are_read_and_the_rest_named(make_user, platforms, settings, tmp_path):
    import hashlib

    found = threads_members()
    top = "instagram-ada-20240901/"
    job = imported(make_user("ada"), "instagram", zip_bytes(found), settings=settings, tmp_path=tmp_path)
    assert sorted(job.records.values_list("resource", flat=True)) == ["media", "profile_photos", "threads_posts"]
    thread = job.records.get(resource="threads_posts").data
    assert thread["message"] == "Hallo Threads ✨"
    files = {m.media_id: m for m in job.media_files.all()}
    assert set(files) == {"17950000000000009", "17970000000000001", "17970000000000002", "17980000000000001"}
    for media_id, name in (
        ("17950000000000009", "media/posts/202408/17950000000000009.jpg"),
        ("17970000000000001", "media/threads/202408/17970000000000001.jpg"),
        ("17980000000000001", "media/profile/202408/17980000000000001.jpg"),
    ):
        assert files[media_id].status == MediaFile.Status.DONE
        assert files[media_id].sha256 == hashlib.sha256(found[top + name]).hexdigest()
    absent = files["17970000000000002"]
    assert (absent.status, absent.kind) == (MediaFile.Status.FAILED, "video")
    assert absent.extra["missing_from_archive"] == "media/threads/202408/17970000000000002.mp4"
    assert job.account == {"username": "ada", "name": "Ada"}
    for name, reason in (
        ("connections/followers_and_following/following.json", "your list of followers"),
        ("logged_information/link_history/link_history.json", "activity Meta logged about you"),
        ("ads_information/ads_and_topics/ads_viewed.json", "what Meta records for ads"),
        ("security_and_login_information/login_and_profile_creation/login_activity.json", "sign-in records"),
        ("preferences/settings/use_cross-app_messaging.json", "settings, not content"),
        ("your_instagram_activity/threads/threads_viewed.json", "not a kind of content this import reads"),
    ):
        assert any(n.startswith(f"{top}{name}: {reason}") for n in job.notes), name
    assert unaccounted(job, found) == {
        f"{top}your_instagram_activity/content/posts_1.json",
        f"{top}your_instagram_activity/threads/threads_and_replies.json",
        f"{top}personal_information/personal_information/personal_information.json",
    }


def test_a_2021_archive_s_profile_is_read_from_account_information():
    found = {
        "content/posts_1.json": json.dumps([]),
        "account_information/personal_information.json": json.dumps(
            {"profile_user": [{"string_map_data": {"Username": {"value": "ada"}, "Name": {"value": "Ada"}}}]}
        ),
    }
    importer, archive, rows = read(found)
    assert rows == []
    assert importer.account(archive) == {"username": "ada", "name": "Ada"}
