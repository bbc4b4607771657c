"""Hostile records through BOTH write paths — the API fetch and an archive import — on PostgreSQL
and (by running this module again in a child process) on SQLite: nothing lost, nothing failed."""

import base64
import json
import os
import random
import subprocess
import sys
import zipfile

import pytest

from exports import jobs, links, pipeline
from exports.models import ExportJob
from platforms.base import MediaItem, Page
from platforms.twitter.extractor import TwitterExtractor
from tests.conftest import ROOT, verify_archive
from tests.fixtures.archives import uploaded_job, ytd, zip_bytes

LONG = "1" * 300
# Text that does not compress, or the archive would rightly be refused as a zip bomb.
HUGE = base64.b64encode(random.Random(7).randbytes(3 << 19)).decode()


def hostile_tweets() -> list[dict]:
    """Each tweet carries one thing a database or a spreadsheet chokes on."""
    return [
        {"id": "101", "text": "a NUL\x00 inside", "created_at": "2024-01-01T10:00:00.000Z"},
        {"id": "102", "text": "a lone surrogate \ud800 here", "created_at": "2024-01-02T10:00:00.000Z"},
        {"id": "103", "text": "a key with a surrogate", "odd\udfff": 1, "created_at": "2024-01-03T10:00:00.000Z"},
        {"id": LONG + "2", "text": "a 301-character id", "created_at": "2024-01-04T10:00:00.000Z"},
        {"id": LONG + "3", "text": "another, the same for 300 characters", "created_at": "2024-01-05T10:00:00.000Z"},
        {"id": "106", "text": "first of two with the same id", "created_at": "2024-01-06T10:00:00.000Z"},
        {"id": "106", "text": "second of two with the same id", "created_at": "2024-01-06T10:00:00.000Z"},
        {"id": "107", "text": HUGE, "created_at": "2024-01-07T10:00:00.000Z"},
        {"id": "108", "text": '=HYPERLINK("http://evil.example")', "created_at": "2024-01-08T10:00:00.000Z"},
    ]


DISTINCT = 8  # 9 tweets, two of which share an id


def assert_nothing_lost(job: ExportJob) -> None:
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    records = {r.external_id: r.data for r in job.records.filter(resource="tweets")}
    assert len(records) == DISTINCT, sorted(k[:20] for k in records)
    texts = " | ".join(str(data.get("text", data.get("full_text", ""))) for data in records.values())
    assert "a NUL inside" in texts
    assert "a lone surrogate \ufffd here" in texts
    assert "a 301-character id" in texts and "another, the same for 300 characters" in texts
    assert any(len(str(data.get("text", data.get("full_text", "")))) == len(HUGE) for data in records.values())
    assert all(len(external_id) <= 255 for external_id in records)
    # The second copy of an id is kept once, and said.
    assert [s["record_id"] for s in job.skipped_records if "twice" in s["reason"]] == ["106"]
    path = links.archive_location(job)
    verify_archive(path, "twitter", "--csv")
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read(f"{job.base_name}.json"))
    assert len(document["records"]["tweets"]) == DISTINCT


def test_hostile_records_through_the_api_fetch(transactional_db, make_user, platforms, connect, monkeypatch):
    def pages(self, client, ctx):
        tweets = hostile_tweets()
        media = [MediaItem(url="javascript:alert(1)//", kind="image", media_id="m1", record_id="101", ext="jpg")]
        yield "tweets", Page(records=tweets[:5], media=media)
        yield "tweets", Page(records=tweets[5:])

    monkeypatch.setattr(TwitterExtractor, "pages", pages)
    user = make_user("hana")
    connect(user, "twitter")
    job = jobs.export_job_create(owner=user, platform_slug="twitter", formats=["json", "csv"], include_media=True,
                                 enqueue=False)  # fmt: skip
    job = pipeline.run_inline(job)
    assert_nothing_lost(job)
    # A media address that is not http(s) is refused with a reason, never fetched.
    refused = job.media_files.get(media_id="m1")
    assert refused.status == "failed" and "not an http(s) URL" in refused.last_error


def archive_tweet(tweet: dict) -> dict:
    shaped = {k: v for k, v in tweet.items() if k not in ("id", "text", "created_at")}
    return {
        "tweet": {
            **shaped,
            "id_str": tweet["id"],
            "id": tweet["id"],
            "full_text": tweet["text"],
            "created_at": "Mon Jan 01 10:00:00 +0000 2024",
            "entities": {},
        }
    }


def test_hostile_records_through_an_archive_import(transactional_db, make_user, platforms):
    user = make_user("ines")
    members = {
        "data/account.js": ytd("account", [{"account": {"accountId": "1", "username": "ines"}}]),
        "data/tweets.js": ytd("tweets", [archive_tweet(t) for t in hostile_tweets()]),
    }
    job = pipeline.run_inline(uploaded_job(user, "twitter", zip_bytes(members)))
    assert_nothing_lost(job)


@pytest.mark.skipif(os.environ.get("STAREXPORT_WRITER_ON_SQLITE") == "1", reason="already the SQLite run")
def test_the_same_hostile_records_pass_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "STAREXPORT_WRITER_ON_SQLITE": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'writer.sqlite3'}",
        "STAREXPORT_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "storage"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "through"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout
