import csv
import io

import pytest

from exports.importing import job_import
from exports.models import MediaFile
from platforms.importer import archive_open
from platforms.registry import get_importer as importer_for
from platforms.youtube.importer import duration
from tests.fixtures.archives import imported, unaccounted, uploaded_job, zip_bytes

BASE = "Takeout/YouTube and YouTube Music"
VIDEO_COLUMNS = [
    "Video ID",
    "Approx Duration (ms)",
    "Video Audio Language",
    "Video Category",
    "Video Description (Original)",
    "Channel ID",
    "Video Title (Original)",
    "Privacy",
    "Video State",
    "Video Create Timestamp",
    "Video Publish Timestamp",
]
LONG_TITLE = "A very long title about cooking pasta at home with friends on a Sunday"


def table(columns: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def members(*, files: bool = True, public: bool = True) -> dict:
    """A Takeout's YouTube part; without `public`, every video is private (no thumbnail to fetch)."""
    from platforms.sandbox.media import video

    videos = [
        ["abc123def45", "90000", "en", "People & Blogs", "First upload", "UC1", "Demo: part 1", "Public", "Processed",
         "2021-01-30T05:26:03+00:00", "2021-01-30T05:30:00+00:00"],
        ["xyz987uvw65", "61500", "", "Howto", "Pasta", "UC1", LONG_TITLE, "Private", "Processed",
         "2022-02-01T00:00:00+00:00", ""],
        ["dup00000001", "1000", "", "", "", "UC1", "Same name", "Unlisted", "Processed",
         "2023-03-01T00:00:00+00:00", "2023-03-01T00:00:00+00:00"],
        ["dup00000002", "1000", "", "", "", "UC1", "Same name", "Unlisted", "Processed",
         "2023-03-02T00:00:00+00:00", "2023-03-02T00:00:00+00:00"],
        ["gone0000001", "1000", "", "", "", "UC1", "Not in this part", "Private", "Processed",
         "2024-01-01T00:00:00+00:00", ""],
    ]  # fmt: skip
    if not public:
        for row in videos:
            row[7] = "Private"
    found = {
        f"{BASE}/video metadata/videos.csv": table(VIDEO_COLUMNS, videos),
        f"{BASE}/channels/channel.csv": table(
            ["Channel ID", "Channel Title (Original)", "Channel Visibility"], [["UC1", "Cooking with Ada", "Public"]]
        ),
        f"{BASE}/playlists/playlists.csv": table(
            [
                "Playlist ID",
                "Add new videos to top",
                "Playlist Title (Original)",
                "Playlist Create Timestamp",
                "Playlist Update Timestamp",
                "Playlist Video Order",
                "Playlist Visibility",
            ],
            [
                [
                    "PL1",
                    "False",
                    "Best: of 2021?",
                    "2020-11-20T07:32:24+00:00",
                    "2020-12-20T04:08:54+00:00",
                    "Manual",
                    "Private",
                ]
            ],
        ),  # fmt: skip
        f"{BASE}/playlists/Best of 2021-videos.csv": table(
            ["Video ID", "Playlist Video Creation Timestamp"],
            [["abc123def45", "2021-02-01T00:00:00+00:00"], ["someoneelse", "2021-02-02T00:00:00+00:00"]],
        ),
    }
    if files:
        clip = video("yt", seconds=0.25, width=64, height=48)
        found[f"{BASE}/videos/Demo_ part 1.mp4"] = clip
        found[f"{BASE}/videos/A very long title about cooking pasta at.mp4"] = clip + b"\0"
        found[f"{BASE}/videos/Same name.mp4"] = clip + b"\0\0"
        found[f"{BASE}/videos/Same name(1).mp4"] = clip + b"\0\0\0"
        found[f"{BASE}/videos/Live stream 2024.webm"] = clip + b"\0\0\0\0"
    return found


def read(archive_members: dict):
    importer = importer_for("youtube")
    archive = archive_open(io.BytesIO(zip_bytes(archive_members)))
    return importer, archive, list(importer.records(archive))


@pytest.fixture(scope="module")
def sample():
    return read(members())


def test_the_channel_videos_and_playlists_become_data_api_records_in_resource_order(sample):
    importer, _, rows = sample
    assert importer.skipped == []
    assert [r[0] for r in rows] == ["channels"] + ["videos"] * 6 + ["playlists"] + ["playlist_items"] * 2
    channel = rows[0][1]
    assert channel == {
        "kind": "youtube#channel",
        "id": "UC1",
        "snippet": {"title": "Cooking with Ada"},
        "status": {"privacyStatus": "public"},
        "archive": {},
    }


def test_a_video_takes_the_shape_videos_list_gives(sample):
    _, _, rows = sample
    first = rows[1][1]
    assert first["id"] == "abc123def45"
    assert first["snippet"] == {
        "publishedAt": "2021-01-30T05:30:00Z",
        "channelId": "UC1",
        "title": "Demo: part 1",
        "description": "First upload",
        "defaultAudioLanguage": "en",
    }
    assert first["contentDetails"] == {"duration": "PT1M30S"}
    assert first["status"] == {"privacyStatus": "public", "uploadStatus": "processed"}
    assert first["archive"]["Video Category"] == "People & Blogs"
    # Never published: dated by its creation.
    assert rows[2][1]["snippet"]["publishedAt"] == "2022-02-01T00:00:00Z"


def test_original_video_files_are_matched_to_their_rows_by_title(sample):
    _, _, rows = sample
    videos = {r[1]["id"]: next(m for m in r[2] if m.kind == "video") for r in rows if r[0] == "videos"}
    assert videos["abc123def45"].member == f"{BASE}/videos/Demo_ part 1.mp4"
    assert videos["xyz987uvw65"].member == f"{BASE}/videos/A very long title about cooking pasta at.mp4"
    assert videos["dup00000001"].member == f"{BASE}/videos/Same name.mp4"
    assert videos["dup00000002"].member == f"{BASE}/videos/Same name(1).mp4"
    # Not in this part of the Takeout: named as Takeout names it, so the failure says what to look for.
    assert videos["gone0000001"].member == f"{BASE}/videos/Not in this part.mp4" and videos["gone0000001"].url == ""
    assert videos["abc123def45"].ext == "mp4" and videos["abc123def45"].extra["duration_ms"] == 90000


def test_a_file_without_a_row_is_kept_as_a_video_named_after_it(sample):
    importer, _, rows = sample
    bare = rows[6]
    assert bare[1]["snippet"]["title"] == "Live stream 2024"
    assert bare[2][0].member == f"{BASE}/videos/Live stream 2024.webm" and bare[2][0].ext == "webm"
    assert any("1 video files match no row of videos.csv" in n for n in importer.notes)


def test_public_videos_get_the_thumbnail_youtube_serves_for_them(sample):
    _, _, rows = sample
    thumbs = {m.media_id: m.url for r in rows for m in r[2] if m.kind == "image"}
    assert thumbs == {
        "abc123def45_thumb": "https://i.ytimg.com/vi/abc123def45/hqdefault.jpg",
        "dup00000001_thumb": "https://i.ytimg.com/vi/dup00000001/hqdefault.jpg",
        "dup00000002_thumb": "https://i.ytimg.com/vi/dup00000002/hqdefault.jpg",
    }


def test_playlists_and_their_items_are_read_from_their_csv_files(sample):
    _, _, rows = sample
    playlist = rows[7][1]
    assert playlist["id"] == "PL1" and playlist["snippet"]["title"] == "Best: of 2021?"
    assert playlist["status"] == {"privacyStatus": "private"} and playlist["contentDetails"] == {"itemCount": 2}
    first, second = rows[8][1], rows[9][1]
    assert first["snippet"]["resourceId"] == {"kind": "youtube#video", "videoId": "abc123def45"}
    assert first["snippet"]["title"] == "Demo: part 1" and first["snippet"]["position"] == 0
    assert first["snippet"]["publishedAt"] == "2021-02-01T00:00:00Z"
    assert second["contentDetails"] == {"videoId": "someoneelse"} and second["id"] == "PL1:1"


def test_an_older_takeout_playlist_file_with_its_details_on_top_is_read():
    old = "Playlist Id,Channel Id,Time Created,Time Updated,Title,Description,Visibility\n"
    old += "PLold,UC1,2015-01-01 00:00:00 UTC,2015-01-02 00:00:00 UTC,Old list,,Public\n\n"
    old += "Video Id,Time Added\nabc123def45,2015-01-03 00:00:00 UTC\n"
    _, _, rows = read({"Takeout/YouTube/playlists/Old list.csv": old})
    assert [(r[0], r[1]["id"]) for r in rows] == [("playlists", "PLold"), ("playlist_items", "PLold:0")]
    assert rows[0][1]["snippet"]["publishedAt"] == "2015-01-01T00:00:00Z"


def test_durations_are_iso_8601():
    assert [duration(ms) for ms in ("0", "1000", "61500", "3723000", "x")] == [
        "PT0S",
        "PT1S",
        "PT1M2S",
        "PT1H2M3S",
        None,
    ]


def test_a_takeout_is_detected_by_its_youtube_folder():
    importer = importer_for("youtube")
    assert importer.detect([f"{BASE}/videos/a.mp4"])
    assert importer.detect(["Takeout/YouTube/playlists/x.csv"])
    assert not importer.detect(["Takeout/Google Photos/a.jpg", "data/tweets.js"])


@pytest.mark.django_db
def test_an_import_keeps_the_original_videos_though_the_api_has_none(make_user, platforms, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    assert platforms["youtube"].video_formats == []
    job = uploaded_job(make_user("ada"), "youtube", zip_bytes(members()))
    job_import(job)
    job.refresh_from_db()
    videos = {m.media_id: m for m in job.media_files.filter(kind="video")}
    assert {k: m.status for k, m in videos.items() if m.status != "done"} == {"gone0000001": "failed"}
    assert videos["gone0000001"].last_error == (
        f"{BASE}/videos/Not in this part.mp4: not in the archive and no URL to fetch it from"
    )
    assert videos["abc123def45"].content_type == "video/mp4" and videos["abc123def45"].ext == "mp4"
    assert job.media_files.filter(kind="image", status=MediaFile.Status.PENDING).count() == 3
    assert job.account["id"] == "UC1"
    assert "archive covers 2020-11-20 to 2024-01-01" in job.notes


def test_a_2025_takeout_with_its_own_folder_and_column_names_is_read_by_meaning():
    from platforms.sandbox.media import video

    base = "Takeout/YouTube and YouTube Music"
    columns = ["Video Id", "Duration (ms)", "Video title", "Video description", "Channel Id", "Video privacy",
               "Video state", "Create timestamp", "Publish timestamp"]  # fmt: skip
    rows_2025 = [["new00000001", "2000", "Mountains", "Up high", "UC9", "PUBLIC", "PROCESSED",
                  "2025-02-01T10:00:00+00:00", "2025-02-01T11:00:00+00:00"]]  # fmt: skip
    clip = video("yt2025", seconds=0.2, width=32, height=32)
    _, _, rows = read(
        {
            f"{base}/Video metadata/videos.csv": table(columns, rows_2025),
            f"{base}/Videos/Mountains.mp4": clip,
            f"{base}/Channels/Channel.csv": table(["Channel Id", "Channel Title (Original)"], [["UC9", "Ada"]]),
        }
    )
    assert [(r[0], r[1]["id"]) for r in rows] == [("channels", "UC9"), ("videos", "new00000001")]
    record = rows[1][1]
    assert record["snippet"] == {
        "publishedAt": "2025-02-01T11:00:00Z",
        "channelId": "UC9",
        "title": "Mountains",
        "description": "Up high",
    }
    assert record["status"] == {"privacyStatus": "public", "uploadStatus": "processed"}
    assert record["contentDetails"] == {"duration": "PT2S"}
    assert rows[1][2][0].member == f"{base}/Videos/Mountains.mp4"


WATCHED_HTML = """<html><body><div class="mdl-grid">
<div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">
<div class="header-cell mdl-cell mdl-cell--12-col"><p class="mdl-typography--title">YouTube<br></p></div>
<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">Searched for <a href="https://www.youtube.com/results?search_query=pasta">pasta</a><br>Jan 5, 2024, 10:00:00 AM UTC</div>
</div></div>
<div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">
<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">Searched for <a href="https://www.youtube.com/results?search_query=bread">bread &amp; butter</a><br>Jan 6, 2024, 9:30:00 PM UTC</div>
</div></div>
</div></body></html>"""


def everything() -> dict:
    """A 2023 Takeout's other YouTube files: comments, subscriptions, watch history in JSON and
    search history in HTML, and the files that are not content."""
    base = "Takeout/YouTube and YouTube Music"
    watch = [
        {"header": "YouTube", "title": "Watched Bread 101", "titleUrl": "https://www.youtube.com/watch?v=bread000001",
         "subtitles": [{"name": "Baker", "url": "https://www.youtube.com/channel/UC2"}],
         "time": "2024-01-02T03:04:05.678Z", "products": ["YouTube"], "activityControls": ["YouTube watch history"]},
    ]  # fmt: skip
    return {
        **members(files=False, public=False),
        f"{base}/comments/comments.csv": table(
            [
                "Comment ID",
                "Channel ID",
                "Comment Create Timestamp",
                "Price",
                "Parent Comment ID",
                "Video ID",
                "Comment Text",
            ],
            [
                [
                    "Ugx1",
                    "UC1",
                    "2023-05-06T07:08:09.123+00:00",
                    "",
                    "",
                    "abc123def45",
                    '{"text":"Nice "},{"text":"one"}',
                ],
                ["Ugx2", "UC1", "2023-05-07T07:08:09+00:00", "", "Ugx0", "other000001", "Plain reply"],
            ],
        ),  # fmt: skip
        f"{base}/subscriptions/subscriptions.csv": table(
            ["Channel Id", "Channel Url", "Channel Title"], [["UC2", "http://www.youtube.com/channel/UC2", "Baker"]]
        ),
        f"{base}/history/watch-history.json": __import__("json").dumps(watch),
        f"{base}/history/search-history.html": WATCHED_HTML,
        f"{base}/channels/channel page settings.csv": table(["Channel ID", "Page Setting"], [["UC1", "x"]]),
        "Takeout/archive_browser.html": "<html></html>",
    }


@pytest.mark.django_db
def test_comments_subscriptions_and_history_are_read_and_the_rest_named(make_user, platforms, settings, tmp_path):
    found = everything()
    job = imported(make_user("ada"), "youtube", zip_bytes(found), settings=settings, tmp_path=tmp_path)
    by_resource: dict = {}
    for record in job.records.order_by("position"):
        by_resource.setdefault(record.resource, []).append(record.data)
    comments = by_resource["comments"]
    assert [(c["id"], c["snippet"]["textOriginal"]) for c in comments] == [
        ("Ugx1", "Nice one"),
        ("Ugx2", "Plain reply"),
    ]
    assert (
        comments[0]["snippet"]["publishedAt"] == "2023-05-06T07:08:09Z" and comments[1]["snippet"]["parentId"] == "Ugx0"
    )
    assert by_resource["subscriptions"][0]["snippet"] == {
        "title": "Baker",
        "resourceId": {"kind": "youtube#channel", "channelId": "UC2"},
    }
    watched = by_resource["watch_history"][0]["snippet"]
    assert watched["resourceId"]["videoId"] == "bread000001" and watched["publishedAt"] == "2024-01-02T03:04:05Z"
    searched = [r["snippet"] for r in by_resource["search_history"]]
    assert [(s["title"], s["publishedAt"]) for s in searched] == [
        ("Searched for pasta", "2024-01-05T10:00:00Z"),
        ("Searched for bread & butter", "2024-01-06T21:30:00Z"),
    ]
    base = "Takeout/YouTube and YouTube Music"
    assert f"{base}/channels/channel page settings.csv: the channel's settings, not content" in job.notes
    assert "Takeout/archive_browser.html: Takeout's table of contents" in job.notes
    assert unaccounted(job, found) == {n for n in found if n.endswith((".csv", ".json", "history.html"))} - {
        f"{base}/channels/channel page settings.csv"
    }


def test_watch_and_search_history_can_be_left_out():
    importer = importer_for("youtube")
    importer.skip_sensitive = True
    archive = archive_open(io.BytesIO(zip_bytes(everything())))
    resources = {r[0] for r in importer.records(archive)}
    assert resources == {"channels", "videos", "playlists", "playlist_items", "comments", "subscriptions"}
    assert importer.why_not_read("Takeout/YouTube and YouTube Music/history/watch-history.json") == (
        "left out, as asked (messages and history)"
    )


def test_another_google_product_in_the_same_takeout_is_named_as_such():
    importer, archive, _ = read({**members(files=False), "Takeout/Google Photos/album/a.jpg": b"x"})
    assert importer.unread(archive.namelist())["Takeout/Google Photos/album/a.jpg"] == (
        "another Google product's data, not YouTube's"
    )


GERMAN = "Takeout/YouTube und YouTube Music"
# The HTML form of a German Takeout's history: moments in the person's own zone and language.
GERMAN_HISTORY = """<html><body><div class="mdl-grid">
<div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">
<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">{verb} <a href="{url}">{title}</a><br>{when}</div>
</div></div>
</div></body></html>"""


def german_takeout() -> dict:
    """A 2025 Takeout in German: the product's and its folders' names, and the history's files and
    moments, in the person's language."""
    from platforms.sandbox.media import video

    return {
        f"{GERMAN}/Video-Metadaten/Videos.csv": table(
            ["Video-ID", "Kanal-ID", "Titel", "Beschreibung", "Privacy", "Video Create Timestamp"],
            [
                ["deu00000001", "UC9", "Brot backen", "Sauerteig", "Private", "2025-02-01T10:00:00+00:00"],
                ["deu00000002", "UC9", "Nicht hier", "", "Private", "2025-02-02T10:00:00+00:00"],
            ],
        ),
        f"{GERMAN}/Video-Metadaten/Videoaufzeichnungen.csv": table(["Video-ID", "Ort"], [["deu00000001", "Berlin"]]),
        f"{GERMAN}/Videos/Brot backen.mp4": video("brot", seconds=0.2, width=32, height=32),
        f"{GERMAN}/Kanäle/Kanal.csv": table(["Kanal-ID", "Channel Title (Original)"], [["UC9", "Backen mit Ada"]]),
        f"{GERMAN}/Kanäle/Kanalseiteneinstellungen.csv": table(["Kanal-ID", "Einstellung"], [["UC9", "x"]]),
        f"{GERMAN}/Abos/Abos.csv": table(
            ["Kanal-ID", "Kanal-URL", "Kanaltitel"], [["UC7", "http://www.youtube.com/channel/UC7", "Bäcker"]]
        ),
        f"{GERMAN}/Verlauf/Wiedergabeverlauf.html": GERMAN_HISTORY.format(
            verb="Angesehen", url="https://www.youtube.com/watch?v=brot0000001", title="Brot 101",
            when="08.03.2025, 17:14:40 MEZ",
        ),
        f"{GERMAN}/Verlauf/Suchverlauf.html": GERMAN_HISTORY.format(
            verb="Gesucht nach", url="https://www.youtube.com/results?search_query=brot", title="brot",
            when="Mar 9, 2025, 9:00:00\u202fAM CET",
        ),
        f"{GERMAN}/Livechats/Livechats.csv": table(["Livechat-ID", "Text"], [["L1", "Hallo"]]),
        f"{GERMAN}/musik-mediathek-songs/musik-mediathek-songs.csv": table(["Titel"], [["Lied"]]),
        "Takeout/Archiv_Übersicht.html": "<html></html>",
    }  # fmt: skip


@pytest.mark.django_db
def test_a_german_takeout_is_read_whole_and_its_history_is_known_by_its_german_names(
    make_user, platforms, settings, tmp_path
):
    import hashlib

    found = german_takeout()
    job = imported(make_user("ada"), "youtube", zip_bytes(found), settings=settings, tmp_path=tmp_path)
    by_resource: dict = {}
    for record in job.records.order_by("position"):
        by_resource.setdefault(record.resource, []).append(record.data)
    assert {k: len(v) for k, v in by_resource.items()} == {
        "channels": 1, "videos": 2, "subscriptions": 1, "watch_history": 1, "search_history": 1
    }  # fmt: skip
    assert [v["snippet"]["title"] for v in by_resource["videos"]] == ["Brot backen", "Nicht hier"]
    assert by_resource["subscriptions"][0]["snippet"]["title"] == "Bäcker"
    # Each moment in UTC, though the page writes it in the person's zone (MEZ, CET: UTC+1).
    watched = by_resource["watch_history"][0]
    assert watched["snippet"]["publishedAt"] == "2025-03-08T16:14:40Z"
    assert watched["snippet"]["resourceId"]["videoId"] == "brot0000001"
    assert watched["archive"]["time_text"] == "08.03.2025, 17:14:40 MEZ"
    assert by_resource["search_history"][0]["snippet"]["publishedAt"] == "2025-03-09T08:00:00Z"
    files = {m.media_id: m for m in job.media_files.all()}
    assert set(files) == {"deu00000001", "deu00000002"}
    present = files["deu00000001"]
    assert present.status == MediaFile.Status.DONE
    assert present.sha256 == hashlib.sha256(found[f"{GERMAN}/Videos/Brot backen.mp4"]).hexdigest()
    absent = files["deu00000002"]
    assert absent.status == MediaFile.Status.FAILED
    assert absent.extra["missing_from_archive"] == f"{GERMAN}/Videos/Nicht hier.mp4"
    for name, reason in (
        (f"{GERMAN}/Video-Metadaten/Videoaufzeichnungen.csv", "where videos were recorded"),
        (f"{GERMAN}/Kanäle/Kanalseiteneinstellungen.csv", "the channel's settings, not content"),
        (f"{GERMAN}/Livechats/Livechats.csv", "live chat messages in others' streams"),
        (f"{GERMAN}/musik-mediathek-songs/musik-mediathek-songs.csv", "YouTube Music's library"),
        ("Takeout/Archiv_Übersicht.html", "Takeout's table of contents"),
    ):
        assert any(n.startswith(f"{name}: {reason}") for n in job.notes), name
    read = {f"{GERMAN}/{n}" for n in ("Video-Metadaten/Videos.csv", "Kanäle/Kanal.csv", "Abos/Abos.csv")}
    read |= {f"{GERMAN}/Verlauf/Wiedergabeverlauf.html", f"{GERMAN}/Verlauf/Suchverlauf.html"}
    assert unaccounted(job, found) == read


def test_a_german_history_is_left_out_when_asked():
    importer = importer_for("youtube")
    importer.skip_sensitive = True
    archive = archive_open(io.BytesIO(zip_bytes(german_takeout())))
    resources = {r[0] for r in importer.records(archive)}
    assert resources == {"channels", "videos", "subscriptions"}
    for name in ("Wiedergabeverlauf.html", "Suchverlauf.html"):
        assert importer.why_not_read(f"{GERMAN}/Verlauf/{name}") == "left out, as asked (messages and history)"


MY_COMMENTS = """<html><body><ul>
<li>You added a <a href="https://www.youtube.com/watch?v=abc123def45&amp;lc=UgxHtml1">comment</a> on
<a href="https://www.youtube.com/watch?v=abc123def45">Demo: part 1</a>.<br/>2023-02-27 15:55:56 UTC<br/>Nice &amp; warm</li>
<li>Sent at 2020-04-27 23:18:23 UTC while watching <a href="http://www.youtube.com/watch?v=xyz987uvw65">a video</a>.<br/>older form</li>
</ul></body></html>"""


def test_comments_written_as_a_page_are_read():
    """A 2023 Takeout may write the comments as my-comments/my-comments.html, not comments.csv."""
    found = {**members(files=False), f"{BASE}/my-comments/my-comments.html": MY_COMMENTS}
    importer, archive, rows = read(found)
    comments = [r[1] for r in rows if r[0] == "comments"]
    assert [(c["id"], c["snippet"]["videoId"], c["snippet"]["textOriginal"], c["snippet"]["publishedAt"])
            for c in comments] == [
        ("UgxHtml1", "abc123def45", "Nice & warm", "2023-02-27T15:55:56Z"),
        (comments[1]["id"], "xyz987uvw65", "older form", "2020-04-27T23:18:23Z"),
    ]  # fmt: skip
    assert comments[1]["id"].startswith("html_")
    assert f"{BASE}/my-comments/my-comments.html" not in importer.unread(archive.namelist())


def test_a_french_takeout_s_channel_and_history_are_known_by_their_names():
    found = {
        "Takeout/YouTube et YouTube Music/chaînes/chaîne.csv": table(
            ["Channel ID", "Channel Title (Original)"], [["UC8", "Cuisine d'Ada"]]
        ),
        "Takeout/YouTube et YouTube Music/historique/historique des recherches.json": __import__("json").dumps(
            [{"header": "YouTube", "title": "Recherche : pain", "time": "2025-01-02T03:04:05Z"}]
        ),
        "Takeout/YouTube et YouTube Music/historique/historique des vidéos regardées.json": __import__("json").dumps(
            [{"header": "YouTube", "title": "A regardé Pain", "titleUrl": "https://www.youtube.com/watch?v=pain0000001",
              "time": "2025-01-02T04:04:05Z"}]
        ),
    }  # fmt: skip
    importer, archive, rows = read(found)
    assert [(r[0], r[1]["id"] if r[0] == "channels" else r[1]["snippet"]["title"]) for r in rows] == [
        ("channels", "UC8"),
        ("search_history", "Recherche : pain"),
        ("watch_history", "A regardé Pain"),
    ]
    assert importer.unread(archive.namelist()) == {}
