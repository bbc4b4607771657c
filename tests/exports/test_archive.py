import csv
import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from hypothesis import given
from hypothesis import strategies as st

from exports import jobs, links, pipeline
from exports.archive import archive_build
from exports.models import ExportJob
from exports.naming import MAX_NAME_BYTES, UniqueNames, media_archive_path, safe_component
from exports.tabular import flatten
from tests.conftest import verify_archive


@pytest.fixture
def reddit_job(transactional_db, make_user, platforms, connect, sandbox):
    user = make_user("rita")
    connect(user, "reddit")
    job = jobs.export_job_create(
        owner=user, platform_slug="reddit", include_media=True, formats=["json", "csv"], enqueue=False
    )
    job = pipeline.run_inline(job)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return job


def test_an_export_with_media_has_the_design_layout_and_verifies(reddit_job):
    verify_archive(links.archive_location(reddit_job), "reddit", "--media", "--csv")


def test_media_that_already_compress_are_stored_and_text_is_deflated(reddit_job):
    with zipfile.ZipFile(links.archive_location(reddit_job)) as archive:
        infos = {i.filename: i for i in archive.infolist()}
    media = [i for n, i in infos.items() if n.startswith("media/") and not n.endswith(".meta.json")]
    assert media and all(i.compress_type == zipfile.ZIP_STORED for i in media)
    assert infos[f"{reddit_job.base_name}.json"].compress_type == zipfile.ZIP_DEFLATED
    assert infos["index.html"].compress_type == zipfile.ZIP_DEFLATED


def test_the_manifest_is_the_last_member_and_covers_every_other(reddit_job):
    with zipfile.ZipFile(links.archive_location(reddit_job)) as archive:
        names = archive.namelist()
        manifest = archive.read("manifest-sha256.txt").decode().splitlines()
    assert names[-1] == "manifest-sha256.txt"
    assert sorted(line.split("  ", 1)[1] for line in manifest) == sorted(names[:-1])


def test_the_json_lists_records_media_and_failures(reddit_job):
    with zipfile.ZipFile(links.archive_location(reddit_job)) as archive:
        document = json.loads(archive.read(f"{reddit_job.base_name}.json"))
        sidecar_name = document["media"][0]["path"] + ".meta.json"
        sidecar = json.loads(archive.read(sidecar_name))
    assert document["platform"] == "reddit"
    assert document["job_id"] == str(reddit_job.id)
    assert document["exported_at"].endswith("Z")
    assert set(document["records"]) <= {"submitted", "comments", "saved"}
    assert len(document["media"]) == reddit_job.media_done
    assert document["failures"] == []
    assert sidecar["record_id"] == sidecar["record_ids"][0]
    assert sidecar["platform"] == "reddit"


def test_failed_files_are_listed_in_failures_csv_with_their_reason(
    transactional_db, make_user, platforms, connect, sandbox
):
    user = make_user("fay")
    connect(user, "reddit")
    reddit = platforms["reddit"]
    reddit.image_formats = ["png"]  # the sandbox's JPEGs are now refused, the rest goes on
    reddit.save()
    job = pipeline.run_inline(
        jobs.export_job_create(owner=user, platform_slug="reddit", include_media=True, enqueue=False)
    )
    assert job.status == ExportJob.Status.SUCCEEDED
    assert job.media_failed > 0
    path = links.archive_location(job)
    verify_archive(path, "reddit", "--media")
    with zipfile.ZipFile(path) as archive:
        rows = archive.read("failures.csv").decode().splitlines()
    assert rows[0] == "record_id,media_id,source_url,reason"
    assert len(rows) == job.media_failed + 1
    assert "not one of Reddit's image formats" in rows[1]


def test_nested_fields_are_flattened_with_dots_and_lists_as_json():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": "[1, 2]", "d": None}


@pytest.mark.parametrize(
    ("media_id", "expected"),
    [
        ("../../etc/passwd", "2024-01-02_._._etc_passwd.jpg"),
        ("a/b\\c", "2024-01-02_a_b_c.jpg"),
        ("tab\there\x00nul", "2024-01-02_tabherenul.jpg"),
        ("café ☕", "2024-01-02_café ☕.jpg"),
    ],
)
def test_media_names_are_sanitised(media_id, expected):
    path = media_archive_path(
        UniqueNames(), platform="reddit", kind="image", timestamp="2024-01-02T03:04:05Z", media_id=media_id, ext="jpg"
    )
    assert path == f"media/images/reddit/{expected}"


def test_a_300_byte_name_is_cut_to_200_bytes_and_keeps_its_extension():
    path = media_archive_path(
        UniqueNames(), platform="reddit", kind="video", timestamp="", media_id="é" * 150, ext="mp4"
    )
    name = path.rsplit("/", 1)[1]
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name.startswith("undated_") and name.endswith(".mp4")


def test_names_that_collide_get_a_suffix():
    names = UniqueNames()
    first = media_archive_path(names, platform="x", kind="image", timestamp="", media_id="a", ext="jpg")
    second = media_archive_path(names, platform="x", kind="image", timestamp="", media_id="A", ext="jpg")
    assert first != second
    assert second.endswith("-2.jpg")


@given(st.lists(st.text(min_size=0, max_size=120), min_size=1, max_size=30))
def test_sanitised_names_never_escape_collide_or_grow_too_long(media_ids):
    names = UniqueNames()
    paths = [
        media_archive_path(names, platform="p", kind="file", timestamp="2020-01-01", media_id=m, ext="bin")
        for m in media_ids
    ]
    assert len({p.lower() for p in paths}) == len(paths)
    for path in paths:
        folder, _, name = path.rpartition("/")
        assert folder == "media/files/p"
        assert name not in ("", ".", "..") and "/" not in name and "\\" not in name
        assert not any(ord(c) < 32 or ord(c) == 127 for c in name)
        assert len(name.encode()) <= MAX_NAME_BYTES


@given(st.text(max_size=400))
def test_a_safe_component_is_never_a_path(text):
    component = safe_component(text)
    assert component and component not in (".", "..")
    assert "/" not in component and "\\" not in component
    assert len(component.encode()) <= MAX_NAME_BYTES


def test_failures_csv_is_always_there_with_its_header_when_nothing_is_missing(reddit_job):
    with zipfile.ZipFile(links.archive_location(reddit_job)) as archive:
        assert archive.read("failures.csv").decode().splitlines() == ["record_id,media_id,source_url,reason"]


def test_the_csv_keeps_reddits_media_metadata_in_one_column_and_under_400(reddit_job):
    with zipfile.ZipFile(links.archive_location(reddit_job)) as archive:
        rows = list(csv.reader(io.StringIO(archive.read(f"{reddit_job.base_name}.csv").decode())))
    header = rows[0]
    assert len(header) <= 400
    assert not [c for c in header if c.startswith("media_metadata.")]
    assert "media_metadata" in header
    gallery = [r for r in rows[1:] if r[header.index("media_metadata")]]
    assert gallery and json.loads(gallery[0][header.index("media_metadata")])


def test_a_record_with_a_formula_reaches_the_csv_neutralised_and_the_json_unchanged(reddit_job):
    record = reddit_job.records.first()
    record.data = {**record.data, "title": '=HYPERLINK("http://evil.example","x")', "score": -3, "ratio": "-0.5"}
    record.save()
    failure = reddit_job.media_files.first()
    failure.status, failure.last_error, failure.source_url = "failed", "@SUM(A1)", "https://i.redd.it/x.jpg"
    failure.save()
    result = archive_build(reddit_job)
    path = default_storage.path(result.name)
    verify_archive(path, "reddit", "--media", "--csv")
    with zipfile.ZipFile(path) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read(f"{reddit_job.base_name}.csv").decode())))
        failures = archive.read("failures.csv").decode()
        document = json.loads(archive.read(f"{reddit_job.base_name}.json"))
    row = next(r for r in rows if r["id"] == record.external_id)
    assert row["title"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["score"] == "-3" and row["ratio"] == "-0.5"
    assert "'@SUM(A1)" in failures
    kept = [r for rs in document["records"].values() for r in rs if r.get("title", "").startswith("=HYPERLINK")]
    assert kept
